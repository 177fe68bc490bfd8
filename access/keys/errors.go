package keys

import "errors"

// Sentinel errors. Callers compare with errors.Is; none of them ever carries key
// material or the key-encryption key.
var (
	// ErrUndecryptable: a stored key failed authenticated decryption. Either the
	// configured key-encryption key is not the one the keys were written with, or a row
	// was tampered with. The wrapping error names the kid (which is public).
	ErrUndecryptable = errors.New("signing keys cannot be decrypted with the configured key-encryption key")
	// ErrInvalidKEK: the key-encryption key is not 32 bytes, or not valid base64.
	ErrInvalidKEK = errors.New("invalid key-encryption key")
	// ErrNoSigningKey: the algorithm has no current key (EnsureKeys has not run for it).
	ErrNoSigningKey = errors.New("no current signing key")
	// ErrUnsupportedAlg: the algorithm is not one Weft signs with.
	ErrUnsupportedAlg = errors.New("unsupported signing algorithm")
	// ErrIncompleteRing: Rotate found no current or no next key for the algorithm.
	ErrIncompleteRing = errors.New("signing key ring incomplete")
	// ErrCorruptKey: a stored key decrypted but is not what its row says (wrong type,
	// curve or size, a public key or kid that does not match the private key).
	ErrCorruptKey = errors.New("corrupt signing key")
	// ErrInvalidToken: Verify rejected a token (malformed, unknown kid, algorithm not
	// the key's own, bad signature).
	ErrInvalidToken = errors.New("invalid token")
)
