package workers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The facts post-hoc inspection (appliance/risk) reads about registrations:
// which workers a bank card is on, and which workers registered from one
// client address or one device. Both are blind indexes — HMAC-SM3 under the
// keyring's index key with labels of their own — so the card, the address
// and the device ID themselves stay where they were (the card in the
// worker's sealed record; the address in the audit log; the device ID
// nowhere). Neither index is unique: a card shared by several workers, or
// a device registering many, is what inspection looks for, not a refusal.
//
// They are recorded from command set state.RiskSet on; a cluster that does
// not speak it yet registers as before. No flow changes a worker's card
// today; one that does moves its entry with indexCard(old, new).

// Sighting is one worker seen on a card or at a registration source.
type Sighting struct {
	Worker string    `json:"worker"`
	At     time.Time `json:"at"`
}

// Source is where a self-registration came from, as blind indexes: the
// client's address (always) and the X-Device-Id header (if sent).
type Source struct {
	IP     []byte `json:"ip,omitempty"`
	Device []byte `json:"device,omitempty"`
}

// Source kinds, as SourceBucket keys and inspection name them.
const (
	SourceIP     = "ip"
	SourceDevice = "device"
)

var sourceTag = map[string]byte{SourceIP: 'i', SourceDevice: 'd'}

// DeviceHeader is the optional request header of a self-registration that
// names the client's device (an app's installation ID, say).
const DeviceHeader = "X-Device-Id"

// MaxDeviceID bounds the X-Device-Id header.
const MaxDeviceID = 128

// CardIndex is the blind index of a bank card number.
func CardIndex(key []byte, card string) []byte {
	h := sm.HMAC(key, []byte("cxt/worker-card/v1\x00"), []byte(card))
	return h[:]
}

// SourceIndexes are the blind indexes of a registering client's address
// (written canonically, an IPv4-mapped IPv6 address as IPv4) and of its
// device ID, if any. An address that does not parse is indexed as given.
func SourceIndexes(key []byte, ip, device string) *Source {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.Unmap().String()
	}
	s := &Source{}
	if ip != "" {
		h := sm.HMAC(key, []byte("cxt/worker-ip/v1\x00"), []byte(ip))
		s.IP = h[:]
	}
	if device != "" {
		h := sm.HMAC(key, []byte("cxt/worker-device/v1\x00"), []byte(device))
		s.Device = h[:]
	}
	return s
}

// CheckDeviceID refuses an X-Device-Id header that is not 1 to MaxDeviceID
// printable ASCII characters; "" (no header) passes.
func CheckDeviceID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) > MaxDeviceID || strings.TrimFunc(id, func(r rune) bool { return r > ' ' && r < 0x7f }) != "" {
		return fmt.Errorf("X-Device-Id: 1 to %d printable ASCII characters", MaxDeviceID)
	}
	return nil
}

// indexCard moves a worker's card entry from old to card (either may be
// nil).
func indexCard(tx *state.Tx, old, card []byte, worker string) error {
	if len(old) == 0 && len(card) == 0 {
		return nil
	}
	if ok, err := tx.Speaks(state.RiskSet); err != nil || !ok {
		return err
	}
	if len(old) > 0 {
		if err := tx.Delete(CardBucket, cardKey(old, worker)); err != nil {
			return err
		}
	}
	if len(card) == 0 {
		return nil
	}
	if !indexSized(card) {
		return state.Reject(state.InvalidRequest, "a bank card's blind index is an HMAC-SM3")
	}
	return tx.Put(CardBucket, cardKey(card, worker), mustJSON(Sighting{Worker: worker, At: tx.Time()}))
}

func cardKey(card []byte, worker string) []byte {
	return append(bytes.Clone(card), worker...)
}

// recordSource records a registration's source, if the cluster speaks the
// risk set.
func recordSource(tx *state.Tx, s *Source, worker string) error {
	if s == nil {
		return nil
	}
	if ok, err := tx.Speaks(state.RiskSet); err != nil || !ok {
		return err
	}
	now := tx.Time()
	for _, kind := range []string{SourceIP, SourceDevice} {
		idx := s.IP
		if kind == SourceDevice {
			idx = s.Device
		}
		if len(idx) == 0 {
			continue
		}
		if !indexSized(idx) {
			return state.Reject(state.InvalidRequest, "a registration source's blind index is an HMAC-SM3")
		}
		key := append([]byte{sourceTag[kind]}, idx...)
		key = binary.BigEndian.AppendUint64(key, uint64(now.UnixNano()))
		key = append(key, worker...)
		if err := tx.Put(SourceBucket, key, mustJSON(Sighting{Worker: worker, At: now})); err != nil {
			return err
		}
	}
	return nil
}

// Cards calls fn with every worker on a bank card, by the card's index
// (the same card's workers follow each other).
func Cards(tx *state.ReadTx, fn func(card []byte, s Sighting) error) error {
	return tx.ForEach(CardBucket, func(k, v []byte) error {
		if len(k) <= sm.HashSize {
			return fmt.Errorf("workers: card entry %x", k)
		}
		var s Sighting
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("workers: card entry: %w", err)
		}
		return fn(k[:sm.HashSize], s)
	})
}

// Sources calls fn with every registration seen at a source: by kind, then
// the source's index, then time.
func Sources(tx *state.ReadTx, fn func(kind string, source []byte, s Sighting) error) error {
	return tx.ForEach(SourceBucket, func(k, v []byte) error {
		if len(k) <= 1+sm.HashSize+8 {
			return fmt.Errorf("workers: source entry %x", k)
		}
		kind := SourceIP
		if k[0] == sourceTag[SourceDevice] {
			kind = SourceDevice
		}
		var s Sighting
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("workers: source entry: %w", err)
		}
		return fn(kind, k[1:1+sm.HashSize], s)
	})
}
