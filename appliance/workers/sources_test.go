package workers

import (
	"bytes"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// riskWorld is a world whose cluster speaks the risk set, as a node's does.
func riskWorld(t *testing.T, speaksRisk bool) *world {
	set := uint32(state.GatewaySet)
	if speaksRisk {
		set = 0
	}
	return &world{statetest.NewAt(t, set, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		merchants.Register(reg)
		Register(reg)
		feed.Register(reg)
		if speaksRisk {
			reg.HandleFrom(state.RiskSet, "test.risk", func(*state.Tx, *state.Command) ([]byte, error) { return nil, nil })
		}
	})}
}

func (w *world) cards() map[string][]string {
	out := map[string][]string{}
	w.State.View(func(tx *state.ReadTx) error {
		return Cards(tx, func(card []byte, s Sighting) error {
			out[string(card)] = append(out[string(card)], s.Worker)
			return nil
		})
	})
	return out
}

func TestACardIsIndexedOnEveryWorkerItIsOnAndASourceOnEveryRegistration(t *testing.T) {
	w := riskWorld(t, true)
	key := []byte("index key of the test")
	card := CardIndex(key, "6222020200000000001")
	src := SourceIndexes(key, "::ffff:10.0.0.7", "device-1")
	if !bytes.Equal(src.IP, SourceIndexes(key, "10.0.0.7", "").IP) {
		t.Fatal("an IPv4-mapped address is indexed apart from its IPv4 form")
	}
	g := w.registration("w_1", zhang, "zhang")
	g.CardIndex, g.Source = card, src
	if res := w.Send(CmdRegister, g); res.Err != nil {
		t.Fatal(res.Err)
	}
	w.merchant("m_1", true)
	_, in := w.fresh("w_2", li)
	in.Row, in.CardIndex = 1, card
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-m", Rows: []Invitee{in}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := w.cards()[string(card)]; len(got) != 2 || got[0] != "w_1" || got[1] != "w_2" {
		t.Fatalf("the card's workers: %v", got)
	}
	seen := map[string]int{}
	w.State.View(func(tx *state.ReadTx) error {
		return Sources(tx, func(kind string, idx []byte, s Sighting) error {
			if s.Worker != "w_1" {
				t.Errorf("%s source of %s: only the self-registration has one", kind, s.Worker)
			}
			seen[kind]++
			return nil
		})
	})
	if seen[SourceIP] != 1 || seen[SourceDevice] != 1 {
		t.Fatalf("sources: %v", seen)
	}
	// A worker's sealed record is the only place the card is.
	w.State.View(func(tx *state.ReadTx) error {
		return tx.ForEach(CardBucket, func(k, v []byte) error {
			if bytes.Contains(k, []byte("6222020200000000001")) || bytes.Contains(v, []byte("6222020200000000001")) {
				t.Error("a card number in the card index")
			}
			return nil
		})
	})
}

func TestACardIndexIsNotRecordedBeforeTheClusterSpeaksTheRiskSet(t *testing.T) {
	w := riskWorld(t, false)
	g := w.registration("w_1", zhang, "zhang")
	g.CardIndex, g.Source = CardIndex([]byte("k"), "6222020200000000001"), SourceIndexes([]byte("k"), "10.0.0.7", "")
	if res := w.Send(CmdRegister, g); res.Err != nil {
		t.Fatal(res.Err)
	}
	if n, m := w.count(CardBucket), w.count(SourceBucket); n != 0 || m != 0 {
		t.Fatalf("%d card and %d source entries under command set %d", n, m, state.GatewaySet)
	}
}

func TestADeviceIDIsPrintableAndBounded(t *testing.T) {
	for id, ok := range map[string]bool{"": true, "app-7f3a": true, "a b": false, "设备": false, string(make([]byte, MaxDeviceID+1)): false} {
		if err := CheckDeviceID(id); (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
	}
}
