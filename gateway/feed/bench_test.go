package feed_test

import (
	"strconv"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// benchFeed is a state with n entries shaped like a worker link (a short
// payload in an office), appended 10,000 to a command.
func benchFeed(b *testing.B, n int) *statetest.Machine {
	m := statetest.New(b, func(reg *state.Registry) {
		feed.Register(reg)
		reg.HandleFrom(state.GatewaySet, "bench.facts", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			k, _ := strconv.Atoi(string(cmd.Body))
			for i := range k {
				p := map[string]string{"worker": "wk-" + strconv.Itoa(i), "merchant": "m-bench-000001", "status": "active"}
				if _, err := feed.Append(tx, feed.Fact{Type: "worker.linked", Version: 1, Office: "11101050000", Subject: "wk-" + strconv.Itoa(i), Payload: p}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	})
	for i := 0; i < n; i += 10_000 {
		if res := m.Apply(state.NewCommand("bench.facts", []byte(strconv.Itoa(min(10_000, n-i))), time.Now())); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	return m
}

// BenchmarkServeAndVerify reads, signs, encodes, decodes and verifies the
// feed in pages of 5,000, as the gateway and the reference client do
// minus the network and on one goroutine: entries/s is the feed's ceiling
// on one core of this machine.
func BenchmarkServeAndVerify(b *testing.B) {
	const n = 100_000
	m := benchFeed(b, n)
	key, _ := sm.GenerateKey()
	b.ResetTimer()
	for range b.N {
		at := feed.Start(feed.ScopePlatform)
		for at.Seq < n {
			var raw []byte
			err := m.State.View(func(r *state.ReadTx) error {
				h, entries, err := feed.Read(r, feed.Platform, at.Seq, 5000, nil)
				if err != nil {
					return err
				}
				p, err := feed.Sign(h, entries, time.Now(), key.Sign)
				if err != nil {
					return err
				}
				raw = p.AppendJSON(nil)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var p feed.Page
			if err := gojson.Unmarshal(raw, &p); err != nil {
				b.Fatal(err)
			}
			if at, _, err = feed.Verify(&p, key.Public(), at); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
