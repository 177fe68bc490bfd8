package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// SecretBox encrypts secrets Weft stores for later use in clear, such as the
// Authorization header an SSF receiver wants on each push (issue 9, L5): AES-256-GCM
// under a key derived from the key-encryption key for one purpose, so a box for one
// purpose cannot open another's ciphertexts, nor a signing key's. Each ciphertext is
// bound to the row it belongs to (Seal's bind), so copying it to another row does not
// decrypt.
type SecretBox struct {
	aead    cipher.AEAD
	purpose string
}

// secretBoxVersion versions the format: nonce (12 bytes) then GCM ciphertext and tag.
const secretBoxVersion = "weft secret box v1"

// ErrSecretUnreadable is returned for a ciphertext that does not open: another
// key-encryption key, another row, or tampering. It never includes the ciphertext.
var ErrSecretUnreadable = errors.New("stored secret cannot be decrypted (wrong key-encryption key, or tampered)")

// NewSecretBox derives the box for purpose (say "ssf authorization header") from kek.
func NewSecretBox(kek []byte, purpose string) (*SecretBox, error) {
	if len(kek) != kekSize {
		return nil, fmt.Errorf("%w: must be %d bytes, got %d", ErrInvalidKEK, kekSize, len(kek))
	}
	key, err := hkdf.Key(sha256.New, kek, nil, secretBoxVersion+": "+purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead, purpose: purpose}, nil
}

func (b *SecretBox) aad(bind string) []byte {
	return []byte(secretBoxVersion + "\x00" + b.purpose + "\x00" + bind)
}

// Seal encrypts plaintext for the row bind.
func (b *SecretBox) Seal(plaintext []byte, bind string) ([]byte, error) {
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plaintext, b.aad(bind)), nil
}

// Open decrypts what Seal returned for the row bind; ErrSecretUnreadable otherwise.
func (b *SecretBox) Open(sealed []byte, bind string) ([]byte, error) {
	if len(sealed) < nonceSize+b.aead.Overhead() {
		return nil, ErrSecretUnreadable
	}
	out, err := b.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], b.aad(bind))
	if err != nil {
		return nil, ErrSecretUnreadable
	}
	return out, nil
}
