package keyring

import (
	"fmt"
	"testing"
)

// BenchmarkRecord measures what every sealed record costs a state machine,
// one core: sealing with a synthetic nonce, opening, and the one-block
// HMAC-SM3 its term of the state digest takes. The payouts and bulk
// registration floors in docs/performance.md are sums of these.
func BenchmarkRecord(b *testing.B) {
	k := termOne(&testing.T{}, NewMasterKey(), NewSecret())
	coords, aad := []byte("payouts/run at 123456"), []byte("payments\x00pb-0123456789abcdef-000042")
	for _, size := range []int{0, 64, 160, 512} {
		pt := make([]byte, size)
		b.Run(fmt.Sprintf("seal/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				if _, err := k.SealSynthetic(Records, coords, aad, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
		env, _ := k.SealSynthetic(Records, coords, aad, pt)
		b.Run(fmt.Sprintf("open/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				if _, err := k.Open(Records, aad, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	m, _ := k.MAC(1, Records)
	msg := make([]byte, 1+FingerprintSize+26)
	b.Run("digest-term", func(b *testing.B) {
		for range b.N {
			m.Sum(msg)
		}
	})
}
