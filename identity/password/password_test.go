package password

import (
	"errors"
	"strings"
	"testing"
)

// testParams keep unit tests fast; the production cost is measured by the benchmark.
var testParams = Params{MemoryKiB: MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	phc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", phc)
	}
	if err := Verify("correct horse battery staple", phc); err != nil {
		t.Fatalf("Verify(right) = %v", err)
	}
	if err := Verify("correct horse battery stapl", phc); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify(wrong) = %v, want ErrMismatch", err)
	}
	other, _ := h.Hash("correct horse battery staple")
	if other == phc {
		t.Fatal("two hashes of the same secret are equal: salt is not random")
	}
	if h.NeedsRehash(phc) {
		t.Fatal("NeedsRehash true for a hash made with the current parameters")
	}
	h2, _ := NewHasher(Params{MemoryKiB: 2 * MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if !h2.NeedsRehash(phc) {
		t.Fatal("NeedsRehash false after the memory cost changed")
	}
	if err := Verify("x", h.Dummy()); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Dummy hash verified: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	h, _ := NewHasher(testParams)
	good, _ := h.Hash("s")
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	cases := []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=8192,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=8192,t=1,p=1$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=8192,t=1$" + salt + "$" + key},
		{"duplicate param", "$argon2id$v=19$m=8192,m=8192,t=1$" + salt + "$" + key},
		{"unknown param", "$argon2id$v=19$m=8192,t=1,p=1,x=1$" + salt + "$" + key},
		{"memory bomb", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"time bomb", "$argon2id$v=19$m=8192,t=100000,p=1$" + salt + "$" + key},
		{"tiny memory", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"bad base64", "$argon2id$v=19$m=8192,t=1,p=1$!!!$" + key},
		{"short salt", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$" + key},
		{"extra field", good + "$x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := Decode(tc.phc); !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Decode(%q) = %v, want ErrMalformedHash", tc.phc, err)
			}
			if err := Verify("s", tc.phc); !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, want ErrMalformedHash", err)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	cases := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams, true},
		{"owasp 19MiB t2", Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"too little memory", Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"zero time", Params{MemoryKiB: 65536, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"zero threads", Params{MemoryKiB: 65536, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, false},
		{"short salt", Params{MemoryKiB: 65536, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}, false},
		{"short key", Params{MemoryKiB: 65536, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestHashRejectsOverlongSecret(t *testing.T) {
	h, _ := NewHasher(testParams)
	if _, err := h.Hash(strings.Repeat("a", MaxLen+1)); err == nil {
		t.Fatal("Hash accepted a secret longer than MaxLen")
	}
}

// BenchmarkHash measures one argon2id hash at DefaultParams, the cost of a password login
// or an uncached client-secret check. Figures are in BENCHMARKS.md.
func BenchmarkHash(b *testing.B) {
	h, err := NewHasher(DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the same cost seen from the login path.
func BenchmarkVerify(b *testing.B) {
	h, _ := NewHasher(DefaultParams)
	phc, _ := h.Hash("correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify("correct horse battery staple", phc); err != nil {
			b.Fatal(err)
		}
	}
}
