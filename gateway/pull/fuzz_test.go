package pull

import (
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"cxt/crypto/sm"
	"cxt/gateway/feed"
)

// FuzzPage: whatever bytes a gateway (or a man in the middle) answers, the
// client decodes, verifies and checks them without a panic, and keeps no
// page that does not verify.
func FuzzPage(f *testing.F) {
	key, _ := sm.GenerateKey()
	id := `{"name":"张三"}`
	entries := []feed.WireEntry{{Seq: 1, Type: "worker.registered", Version: 1, Time: "2026-11-27T09:30:00Z", Payload: `{"worker":"w1"}`,
		Identity: &id, IdentitySM3: "00", Hash: "ab", Chain: "cd"}}
	h := feed.Head{Protocol: feed.Protocol, Scope: feed.ScopePlatform, First: 1, Last: 1, End: 1}
	p, _ := feed.Sign(h, entries, time.Now(), key.Sign)
	f.Add(p.AppendJSON(nil))
	f.Add([]byte(`{"head":"{}","signature":"","entries":[{"identity_sm3":"` + "zz" + `"}]}`))
	f.Add([]byte(`{"head":"x","signature":"!!","entries":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var page feed.Page
		if gojson.Unmarshal(raw, &page) != nil {
			return
		}
		at := feed.Start(feed.ScopePlatform)
		if _, _, err := feed.Verify(&page, key.Public(), at); err == nil {
			if canonical(&page, raw) == nil && len(page.Entries) > 0 {
				t.Fatalf("a page nobody signed verified: %s", raw)
			}
		}
		canonical(&page, raw)
	})
}
