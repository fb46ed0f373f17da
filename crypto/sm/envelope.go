package sm

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm4"
)

// EnvelopeSecretSize is the secret an Envelope encrypts to its recipient:
// the SM4 key, then the HMAC-SM3 key.
const EnvelopeSecretSize = 2 * KeySize

// Envelope is a message sealed to the holder of an SM2 private key in a form
// stock OpenSSL 3 opens: "openssl pkeyutl -decrypt" recovers the secret
// from Key, "openssl dgst -sm3 -mac HMAC" checks MAC and "openssl enc -d
// -sm4-cbc" decrypts Ciphertext. OpenSSL's enc has no GCM, hence CBC with
// encrypt-then-MAC here, and nowhere else in cxt. The envelope makes the
// message secret to its recipient and intact against anyone without the
// secret; it says nothing of who made it (anyone may encrypt to a public
// key), which the channel that carries it must say.
type Envelope struct {
	// Key is the SM2 encryption (GM/T 0003.4 with SM3, ASN.1 DER in the
	// order C1 C3 C2, as OpenSSL writes and reads it) of the 32-byte
	// secret: the SM4 key ‖ the HMAC-SM3 key.
	Key []byte
	// IV is SM4-CBC's initialisation vector, 16 random bytes.
	IV []byte
	// Ciphertext is the message under SM4-CBC with PKCS#7 padding.
	Ciphertext []byte
	// MAC is HMAC-SM3 under the HMAC key of IV ‖ Ciphertext.
	MAC []byte
}

// Encrypt encrypts msg to p with SM2 (SM3, ASN.1 DER, C1 C3 C2): what
// "openssl pkeyutl -encrypt -pubin -inkey pub.pem" produces and
// "openssl pkeyutl -decrypt -inkey key.pem" reads.
func (p *PublicKey) Encrypt(msg []byte) ([]byte, error) {
	return sm2.EncryptASN1(rand.Reader, p.k, msg)
}

// Decrypt reverses Encrypt.
func (k *PrivateKey) Decrypt(ciphertext []byte) ([]byte, error) {
	return sm2.Decrypt(k.k, ciphertext)
}

// SealFor seals msg to the holder of p's private key under a fresh secret.
func SealFor(p *PublicKey, msg []byte) (*Envelope, error) {
	secret := make([]byte, EnvelopeSecretSize)
	defer clear(secret)
	iv := make([]byte, sm4.BlockSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	block, err := sm4.NewCipher(secret[:KeySize])
	if err != nil {
		return nil, err
	}
	pad := sm4.BlockSize - len(msg)%sm4.BlockSize
	ct := make([]byte, len(msg)+pad)
	copy(ct, msg)
	for i := len(msg); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	mac := HMAC(secret[KeySize:], iv, ct)
	key, err := p.Encrypt(secret)
	if err != nil {
		return nil, fmt.Errorf("sm: encrypt the envelope's secret: %w", err)
	}
	return &Envelope{Key: key, IV: iv, Ciphertext: ct, MAC: mac[:]}, nil
}

// ErrEnvelope is returned for an envelope that does not open: not for this
// key, or altered.
var ErrEnvelope = errors.New("sm: the envelope does not open")

// OpenEnvelope recovers the message sealed to k, after checking its MAC.
func (k *PrivateKey) OpenEnvelope(e *Envelope) ([]byte, error) {
	secret, err := k.Decrypt(e.Key)
	if err != nil || len(secret) != EnvelopeSecretSize {
		return nil, ErrEnvelope
	}
	defer clear(secret)
	mac := HMAC(secret[KeySize:], e.IV, e.Ciphertext)
	if !Equal(mac[:], e.MAC) || len(e.IV) != sm4.BlockSize || len(e.Ciphertext) == 0 || len(e.Ciphertext)%sm4.BlockSize != 0 {
		return nil, ErrEnvelope
	}
	block, err := sm4.NewCipher(secret[:KeySize])
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(e.Ciphertext))
	cipher.NewCBCDecrypter(block, e.IV).CryptBlocks(pt, e.Ciphertext)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > sm4.BlockSize {
		return nil, ErrEnvelope
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, ErrEnvelope
		}
	}
	return pt[:len(pt)-pad], nil
}
