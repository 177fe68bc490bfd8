package keys

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	kekSize   = 32 // AES-256
	nonceSize = 12 // the GCM standard nonce
	rsaBits   = 2048
	// aadPrefix versions the sealing format: a future format gets a new prefix, and a
	// key sealed under one can never be opened as another.
	aadPrefix = "weft signing key v1"
)

// sealer encrypts and decrypts private keys with the key-encryption key.
type sealer struct{ aead cipher.AEAD }

func newSealer(kek []byte) (*sealer, error) {
	if len(kek) != kekSize {
		return nil, fmt.Errorf("%w: must be %d bytes, got %d", ErrInvalidKEK, kekSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKEK, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKEK, err)
	}
	return &sealer{aead: aead}, nil
}

// aad binds a ciphertext to its row: kid, algorithm and the clear public key. NUL
// separates the fields; kid (base64url) and alg cannot contain one, and the public key
// comes last.
func aad(kid string, alg Alg, pub []byte) []byte {
	b := make([]byte, 0, len(aadPrefix)+len(kid)+len(alg)+len(pub)+3)
	b = append(b, aadPrefix...)
	b = append(b, 0)
	b = append(b, kid...)
	b = append(b, 0)
	b = append(b, alg...)
	b = append(b, 0)
	return append(b, pub...)
}

// key is a decrypted key as the Manager holds it in memory.
type key struct {
	Info
	priv crypto.Signer    // *ecdsa.PrivateKey or *rsa.PrivateKey
	pub  crypto.PublicKey // *ecdsa.PublicKey or *rsa.PublicKey
	// The row's material this key was opened from: a reload reuses the decrypted key
	// only if the row still holds the same bytes.
	sealed, nonce, pubDER []byte
}

// generate creates a key for alg in state next and seals it.
func (s *sealer) generate(alg Alg, now time.Time) (Record, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return Record{}, fmt.Errorf("%w %q", ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return Record{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return Record{}, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return Record{}, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Record{}, fmt.Errorf("encode %s private key: %w", alg, err)
	}
	defer clear(privDER)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return Record{}, fmt.Errorf("nonce: %w", err)
	}
	return Record{
		KID:        kid,
		Alg:        alg,
		State:      StateNext,
		PublicKey:  pubDER,
		PrivateKey: s.aead.Seal(nil, nonce, privDER, aad(kid, alg, pubDER)),
		Nonce:      nonce,
		CreatedAt:  now,
	}, nil
}

// open decrypts r and checks that what it holds is what the row claims: the right key
// type and size for the algorithm, the stored public key, and a kid that is that key's
// thumbprint. Errors name the kid and never include key material.
func (s *sealer) open(r Record) (*key, error) {
	if len(r.Nonce) != nonceSize {
		return nil, fmt.Errorf("key %s: %w: nonce is %d bytes", r.KID, ErrCorruptKey, len(r.Nonce))
	}
	der, err := s.aead.Open(nil, r.Nonce, r.PrivateKey, aad(r.KID, r.Alg, r.PublicKey))
	if err != nil {
		// GCM says only "message authentication failed": wrong KEK or a tampered row.
		return nil, fmt.Errorf("key %s: %w", r.KID, ErrUndecryptable)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w: private key is not PKCS#8", r.KID, ErrCorruptKey)
	}
	var priv crypto.Signer
	switch p := parsed.(type) {
	case *ecdsa.PrivateKey:
		if r.Alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %s: %w: ECDSA key does not fit %s", r.KID, ErrCorruptKey, r.Alg)
		}
		priv = p
	case *rsa.PrivateKey:
		if r.Alg != RS256 || p.N.BitLen() < rsaBits {
			return nil, fmt.Errorf("key %s: %w: RSA key does not fit %s", r.KID, ErrCorruptKey, r.Alg)
		}
		priv = p
	default:
		return nil, fmt.Errorf("key %s: %w: unexpected key type %T", r.KID, ErrCorruptKey, parsed)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil || !bytes.Equal(pubDER, r.PublicKey) {
		return nil, fmt.Errorf("key %s: %w: stored public key does not match the private key", r.KID, ErrCorruptKey)
	}
	if kid, err := thumbprint(priv.Public()); err != nil || kid != r.KID {
		return nil, fmt.Errorf("key %s: %w: kid is not the key's thumbprint", r.KID, ErrCorruptKey)
	}
	return &key{Info: r.Info(), priv: priv, pub: priv.Public(),
		sealed: r.PrivateKey, nonce: r.Nonce, pubDER: r.PublicKey}, nil
}

// thumbprint is the kid: the RFC 7638 SHA-256 thumbprint of the public key, base64url
// without padding. It is unique per key, needs no coordination between nodes, and lets
// anyone check that a kid belongs to the key published under it.
func thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
