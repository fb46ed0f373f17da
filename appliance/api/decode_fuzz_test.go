package api

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"cxt/appliance/errs"
)

// FuzzDecodeJSON feeds arbitrary bodies to the request decoder: it must
// either fill the struct or return a 4xx error, never panic or 500.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"username":"a","password":"b"}`, `{`, `[]`, `{"username":1}`, `{"a":1}{}`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hr, _ := http.NewRequest("POST", "/api/v1/sessions", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		var in struct { // the login's body
			Username      string `json:"username"`
			Password      string `json:"password"`
			CaptchaID     string `json:"captcha_id,omitempty"`
			CaptchaAnswer string `json:"captcha_answer,omitempty"`
			TOTP          string `json:"totp,omitempty"`
		}
		err := DecodeJSON(hr, &in)
		if err == nil {
			return
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind.Status() < 400 || e.Kind.Status() >= 500 {
			t.Fatalf("decode error %v is not a 4xx", err)
		}
	})
}
