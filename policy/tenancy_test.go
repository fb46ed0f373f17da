package policy

import "testing"

func TestTenancyIsCodeToo(t *testing.T) {
	cases := []struct {
		name string
		s    Subject
		r    Resource
		ok   bool
	}{
		{"own merchant", Subject{Roles: []string{"merchant_admin"}, Merchant: "m_1"}, Resource{Tenanted: true, Merchants: []string{"m_1"}}, true},
		{"one of its merchants", Subject{Roles: []string{"merchant_operator"}, Merchant: "m_2"}, Resource{Tenanted: true, Merchants: []string{"m_1", "m_2"}}, true},
		{"another merchant", Subject{Roles: []string{"merchant_admin"}, Merchant: "m_2"}, Resource{Tenanted: true, Merchants: []string{"m_1"}}, false},
		{"a merchant user of no merchant", Subject{Roles: []string{"merchant_admin"}}, Resource{Tenanted: true, Merchants: []string{""}}, false},
		{"own worker record", Subject{Roles: []string{"worker"}, Worker: "w_1"}, Resource{Tenanted: true, Worker: "w_1"}, true},
		{"another worker", Subject{Roles: []string{"worker"}, Worker: "w_1"}, Resource{Tenanted: true, Worker: "w_2"}, false},
		{"a worker naming the merchant", Subject{Roles: []string{"worker"}, Worker: "w_1", Merchant: "m_1"}, Resource{Tenanted: true, Merchants: []string{"m_1"}}, true},
		{"platform staff", Subject{Roles: []string{"platform_reviewer"}}, Resource{Tenanted: true, Merchants: []string{"m_1"}}, true},
		{"staff holding a tenant role too", Subject{Roles: []string{"platform_operator", "merchant_admin"}, Merchant: "m_2"}, Resource{Tenanted: true, Merchants: []string{"m_1"}}, false},
		{"untenanted", Subject{Roles: []string{"worker"}, Worker: "w_1"}, Resource{}, true},
	}
	for _, c := range cases {
		if got := CheckTenant(Input{Subject: c.s, Action: "x", Resource: c.r}) == nil; got != c.ok {
			t.Errorf("%s: allowed %v, want %v", c.name, got, c.ok)
		}
	}
}
