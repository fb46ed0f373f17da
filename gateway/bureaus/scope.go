package bureaus

import (
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/gateway/feed"
)

// Scope decides which chain of the feed a client's request reads: the
// whole feed (feed.Platform) for a client whose offices include the
// platform's own tax office, when it names no office, that one or
// "platform"; otherwise the office it names, which must be one of its own
// — any, for a client that reads the whole feed — or its only office when
// it names none. platformOffice is "" while the platform has no profile:
// then nobody reads the whole feed.
func Scope(c *Client, platformOffice, office string) (string, error) {
	const op = "gateway scope"
	whole := platformOffice != "" && c.Sees(platformOffice)
	if office == feed.ScopePlatform {
		if !whole {
			return "", errs.Coded(op, errs.Permission, "out_of_scope", "gateway client %s does not read the whole feed", c.ID)
		}
		return feed.Platform, nil
	}
	if office != "" {
		if err := ident.CheckTaxOffice(office); err != nil {
			e := *errs.Of(err) // tax_office_format, tax_office_region
			e.Field = "office"
			return "", &e
		}
	}
	switch {
	case whole && (office == "" || office == platformOffice):
		return feed.Platform, nil
	case office == "" && len(c.Offices) == 1:
		return c.Offices[0], nil
	case office == "":
		return "", &errs.Error{Op: op, Kind: errs.Invalid, Code: "office_required", Msg: "this client serves several tax offices: name one (office=CODE)", Field: "office"}
	case !c.Sees(office) && !whole:
		return "", errs.Coded(op, errs.Permission, "out_of_scope", "tax office %s is not in gateway client %s's scope", office, c.ID)
	}
	return office, nil
}
