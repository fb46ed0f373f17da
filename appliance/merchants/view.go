package merchants

import (
	"cxt/appliance/ident"
	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/crypto/subjectkey"
)

// public is a merchant as the API shows it: the people on its record
// masked unless unmasked.
func (m *Merchant) public(key *subjectkey.Key, unmasked bool) map[string]any {
	out := map[string]any{
		"id": m.ID, "name": m.Name, "operating_model": m.Model, "status": m.Status, "applicant": m.Applicant,
		"documents": m.Documents, "history": m.History, "created": m.Created,
	}
	if m.TaxOffice != "" {
		out["tax_office"] = m.TaxOffice
	}
	if m.Documents == nil {
		out["documents"] = []DocRef{}
	}
	if !m.Approved.IsZero() {
		out["approved"] = m.Approved
	}
	var p Private
	if err := subjects.Open(key, PrivateAAD(m.ID), m.Private, &p); err != nil {
		out["private"] = "unreadable"
		return out
	}
	if !unmasked {
		p.LegalRep.Name = ident.MaskName(p.LegalRep.Name)
		p.LegalRep.IDNumber = ident.MaskResidentID(p.LegalRep.IDNumber)
		for i := range p.Contacts {
			c := &p.Contacts[i]
			c.Name, c.Phone = ident.MaskName(c.Name), ident.MaskPhone(c.Phone)
			if c.Email != "" {
				c.Email = identity.MaskEmail(c.Email)
			}
		}
		p.Bank.Account = ident.MaskBankCard(p.Bank.Account)
	}
	officers := []Officer{}
	if len(m.Officers) > 0 {
		if err := subjects.Open(key, OfficersAAD(m.ID), m.Officers, &officers); err != nil {
			out["officers"] = "unreadable"
		}
	}
	if _, bad := out["officers"]; !bad {
		if !unmasked {
			for i := range officers {
				o := &officers[i]
				o.Name, o.IDNumber = ident.MaskName(o.Name), ident.MaskResidentID(o.IDNumber)
			}
		}
		out["officers"] = officers
	}
	out["uscc"] = p.USCC // a company's public registration number
	out["legal_rep"], out["contacts"], out["bank"] = p.LegalRep, p.Contacts, p.Bank
	out["masked"] = !unmasked
	return out
}
