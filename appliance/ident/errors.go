package ident

import "cxt/appliance/errs"

// Code names one way an identifier can be wrong. Codes are stable: API
// clients and operators' scripts match on them.
type Code string

// The codes, by identifier.
const (
	USCCFormat         Code = "uscc_format"          // length or characters
	USCCAuthority      Code = "uscc_authority"       // 1st character: registration authority
	USCCType           Code = "uscc_type"            // 2nd character: organisation type
	USCCOrgCode        Code = "uscc_org_code"        // 9th-17th: the GB 11714 organisation code's own check
	USCCCheckCharacter Code = "uscc_check_character" // 18th character

	IDFormat     Code = "id_format"      // length or characters
	IDCheckDigit Code = "id_check_digit" // 18th character (ISO 7064 MOD 11-2)
	IDBirthDate  Code = "id_birth_date"  // not a date, or after the given date
	IDRegion     Code = "id_region"      // first six digits not in GB/T 2260
	IDUnderage   Code = "id_underage"    // younger than MinWorkerAge on the given date

	PhoneFormat Code = "phone_format"

	CardFormat Code = "card_format" // characters
	CardLength Code = "card_length" // not 16-19 digits, or not a length the card's scheme issues
	CardLuhn   Code = "card_luhn"   // the Luhn check digit

	TaxOfficeFormat Code = "tax_office_format" // not 11 digits starting with 1
	TaxOfficeRegion Code = "tax_office_region" // digits 2-7 not in GB/T 2260
)

// Codes lists every code, for documentation tests and clients.
func Codes() []Code {
	return []Code{
		USCCFormat, USCCAuthority, USCCType, USCCOrgCode, USCCCheckCharacter,
		IDFormat, IDCheckDigit, IDBirthDate, IDRegion, IDUnderage,
		PhoneFormat,
		CardFormat, CardLength, CardLuhn,
		TaxOfficeFormat, TaxOfficeRegion,
	}
}

// Error is a refused identifier: which check failed and what exactly is
// wrong, in words an operator can act on.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// As lets errs.Of (and so the API) read an *Error as an invalid request
// with its own code: a 400 with a stable code, never a 500.
func (e *Error) As(target any) bool {
	t, ok := target.(**errs.Error)
	if !ok {
		return false
	}
	*t = &errs.Error{Kind: errs.Invalid, Code: string(e.Code), Msg: e.Msg}
	return true
}

func fail(c Code, msg string) error { return &Error{Code: c, Msg: msg} }
