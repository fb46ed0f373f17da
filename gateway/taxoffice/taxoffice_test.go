package taxoffice

import "testing"

func TestOnlyElevenDigitsOfTheTaxSystemAndAProvinceAreAnOfficeCode(t *testing.T) {
	for code, ok := range map[string]bool{
		"14403000000":  true,  // Shenzhen
		"13101050000":  true,  // Shanghai Huangpu
		"11100000000":  true,  // Beijing
		"1440300000":   false, // ten digits
		"144030000000": false,
		"24403000000":  false, // not the tax system
		"19903000000":  false, // no province 99
		"1440300000x":  false,
		"":             false,
		"１4403000000":  false, // a full-width digit
	} {
		if err := Check(code); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want ok=%v", code, err, ok)
		}
	}
}
