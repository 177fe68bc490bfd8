package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/keys"
)

type rawKey struct {
	Alg, State      string
	Public, Private []byte
	Nonce           []byte
}

func readRaw(t *testing.T, e *env, kid string) rawKey {
	t.Helper()
	var r rawKey
	row := e.db.Conn(context.Background()).Raw("SELECT alg, state, public_key, private_key, nonce FROM signing_keys WHERE kid = ?", kid).Row()
	if err := row.Scan(&r.Alg, &r.State, &r.Public, &r.Private, &r.Nonce); err != nil {
		t.Fatalf("read row %s: %v", kid, err)
	}
	return r
}

func exec(t *testing.T, e *env, sql string, args ...any) {
	t.Helper()
	if err := e.db.Conn(context.Background()).Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestKeysAtRestAreEncrypted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.m.EnsureKeys(context.Background()); err != nil {
			t.Fatal(err)
		}
		nonces := map[string]bool{}
		for _, alg := range keys.Algs {
			kid, priv, err := e.m.SigningKey(context.Background(), alg)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			raw := readRaw(t, e, kid)
			if _, err := x509.ParsePKCS8PrivateKey(raw.Private); err == nil {
				t.Errorf("%s: private_key column parses as PKCS#8", alg)
			}
			if bytes.Contains(raw.Private, der) {
				t.Errorf("%s: private_key column contains the PKCS#8 DER", alg)
			}
			// The secret scalar itself must not appear either.
			var secret []byte
			switch p := priv.(type) {
			case *ecdsa.PrivateKey:
				secret, _ = p.Bytes()
			case *rsa.PrivateKey:
				secret = p.D.Bytes()
			}
			if len(secret) < 32 || bytes.Contains(raw.Private, secret) {
				t.Errorf("%s: private scalar (%d bytes) found in the column", alg, len(secret))
			}
			if len(raw.Private) != len(der)+16 {
				t.Errorf("%s: ciphertext %d bytes, want PKCS#8 (%d) + GCM tag", alg, len(raw.Private), len(der))
			}
			// The public half is in clear and is the signing key's.
			pub, err := x509.ParsePKIXPublicKey(raw.Public)
			if err != nil || !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Errorf("%s: public_key column is not the key's PKIX DER: %v", alg, err)
			}
			if len(raw.Nonce) != 12 || nonces[string(raw.Nonce)] {
				t.Errorf("%s: nonce %x not 12 fresh bytes", alg, raw.Nonce)
			}
			nonces[string(raw.Nonce)] = true
		}
	})
}

// assertClearError checks the error a wrong KEK or a tampered row gives: the sentinel,
// the operator's wording, and no secret in the text.
func assertClearError(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if !errors.Is(err, keys.ErrUndecryptable) {
		t.Fatalf("error %v, want ErrUndecryptable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "signing keys cannot be decrypted with the configured key-encryption key") {
		t.Errorf("error %q lacks the operator's wording", msg)
	}
	for _, s := range secrets {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			if strings.Contains(msg, enc.EncodeToString(s)) {
				t.Errorf("error %q contains a secret", msg)
			}
		}
	}
}

func TestManager_WrongKEK(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first := e.managerWith(t, keys.Config{KEK: e.kek, Algs: []keys.Alg{keys.ES256}, Now: e.clock.Now})
		if _, err := first.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		snapshot := func() []keys.Info { in, _ := first.Keys(ctx); return in }
		before := snapshot()

		otherKEK := newKEK(t)
		wrong := e.manager(t, otherKEK) // both algorithms: it would like to add RS256
		err := wrong.Reload(ctx)
		assertClearError(t, err, e.kek, otherKEK)
		_, _, err = wrong.SigningKey(ctx, keys.ES256)
		assertClearError(t, err, e.kek, otherKEK)
		_, err = wrong.JWKSJSON(ctx)
		assertClearError(t, err, e.kek, otherKEK)

		// It must not write keys the other nodes cannot read.
		_, err = wrong.EnsureKeys(ctx)
		assertClearError(t, err, e.kek, otherKEK)
		_, err = wrong.Rotate(ctx, keys.ES256, time.Hour)
		assertClearError(t, err, e.kek, otherKEK)
		after := snapshot()
		if len(after) != len(before) {
			t.Fatalf("a Manager with the wrong KEK changed the keys: %d → %d", len(before), len(after))
		}
		for i := range before {
			if before[i] != after[i] {
				t.Errorf("key changed: %+v → %+v", before[i], after[i])
			}
		}
	})
}

func TestManager_TamperedRowsFailAuthentication(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, e *env, r map[keys.Alg]map[keys.State][]keys.Info)
	}{
		{"ciphertexts swapped between two keys of one alg", func(t *testing.T, e *env, r map[keys.Alg]map[keys.State][]keys.Info) {
			swap(t, e, r[keys.ES256][keys.StateCurrent][0].KID, r[keys.ES256][keys.StateNext][0].KID)
		}},
		{"ciphertexts swapped across algs", func(t *testing.T, e *env, r map[keys.Alg]map[keys.State][]keys.Info) {
			swap(t, e, r[keys.ES256][keys.StateCurrent][0].KID, r[keys.RS256][keys.StateCurrent][0].KID)
		}},
		{"public key replaced by another key's", func(t *testing.T, e *env, r map[keys.Alg]map[keys.State][]keys.Info) {
			other := readRaw(t, e, r[keys.ES256][keys.StateNext][0].KID)
			exec(t, e, "UPDATE signing_keys SET public_key = ? WHERE kid = ?", other.Public, r[keys.ES256][keys.StateCurrent][0].KID)
		}},
		{"one ciphertext bit flipped", func(t *testing.T, e *env, r map[keys.Alg]map[keys.State][]keys.Info) {
			kid := r[keys.RS256][keys.StateNext][0].KID
			raw := readRaw(t, e, kid)
			raw.Private[len(raw.Private)/2] ^= 1
			exec(t, e, "UPDATE signing_keys SET private_key = ? WHERE kid = ?", raw.Private, kid)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				if _, err := e.m.EnsureKeys(ctx); err != nil {
					t.Fatal(err)
				}
				kid := kidOf(t, e.m, keys.ES256)
				tc.tamper(t, e, ring(t, e.m))
				// A fresh node refuses the keys...
				assertClearError(t, e.manager(t, e.kek).Reload(ctx), e.kek)
				// ...and a running one keeps the keys it had.
				assertClearError(t, e.m.Reload(ctx), e.kek)
				if got := kidOf(t, e.m, keys.ES256); got != kid {
					t.Errorf("signing with %s after a refused reload, want %s", got, kid)
				}
			})
		})
	}
}

// swap exchanges the sealed private keys (ciphertext and nonce) of two rows.
func swap(t *testing.T, e *env, a, b string) {
	t.Helper()
	ra, rb := readRaw(t, e, a), readRaw(t, e, b)
	exec(t, e, "UPDATE signing_keys SET private_key = ?, nonce = ? WHERE kid = ?", rb.Private, rb.Nonce, a)
	exec(t, e, "UPDATE signing_keys SET private_key = ?, nonce = ? WHERE kid = ?", ra.Private, ra.Nonce, b)
}
