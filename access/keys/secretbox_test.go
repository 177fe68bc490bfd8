package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSecretBox(t *testing.T) {
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	box, err := NewSecretBox(kek, "ssf authorization header")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("Bearer receiver-webhook-secret-abc123")
	sealed, err := box.Seal(secret, "stream-1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || bytes.Contains(sealed, []byte("receiver-webhook")) {
		t.Fatal("the ciphertext holds the clear secret")
	}
	again, _ := box.Seal(secret, "stream-1")
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one secret are equal (nonce reused)")
	}
	got, err := box.Open(sealed, "stream-1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	otherKEK := make([]byte, 32)
	_, _ = rand.Read(otherKEK)
	other, _ := NewSecretBox(otherKEK, "ssf authorization header")
	otherPurpose, _ := NewSecretBox(kek, "webhook secret")
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another row":     func() ([]byte, error) { return box.Open(sealed, "stream-2") },
		"another KEK":     func() ([]byte, error) { return other.Open(sealed, "stream-1") },
		"another purpose": func() ([]byte, error) { return otherPurpose.Open(sealed, "stream-1") },
		"tampered":        func() ([]byte, error) { return box.Open(tampered, "stream-1") },
		"truncated":       func() ([]byte, error) { return box.Open(sealed[:10], "stream-1") },
	} {
		if _, err := open(); !errors.Is(err, ErrSecretUnreadable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewSecretBox(kek[:16], "x"); !errors.Is(err, ErrInvalidKEK) {
		t.Fatalf("short KEK: %v", err)
	}
}
