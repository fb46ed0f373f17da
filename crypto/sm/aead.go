package sm

import (
	"crypto/cipher"
	"fmt"

	"github.com/emmansun/gmsm/sm4"
)

// Sizes of the SM4-GCM parameters used throughout cxt.
const (
	KeySize   = 16 // SM4 key
	NonceSize = 12 // GCM nonce; callers generate it (Go's random-nonce helper takes AES only)
	TagSize   = 16 // GCM tag
)

// NewAEAD returns SM4-GCM keyed with a 16-byte key. On amd64 and arm64 this is
// gmsm's assembly implementation, reached through crypto/cipher's gcmAble hook.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sm4: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// NewBlock returns the raw SM4 block cipher; only known-answer tests need it.
func NewBlock(key []byte) (cipher.Block, error) { return sm4.NewCipher(key) }
