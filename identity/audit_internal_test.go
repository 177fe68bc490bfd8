package identity

import (
	"strings"
	"testing"
	"time"
)

func TestDetailProblem(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // "" = sound
	}{
		{`null`, ""},
		{`{}`, ""},
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}`, ""},
		{`{"a":"x","A":"y"}`, ""}, // distinct names: only exact repeats are ambiguous to every reader
		{`{"created":0,"created":14,"updated":0}`, `its detail names "created" twice`},
		{`{"a":1,"\u0061":2}`, `its detail names "a" twice`},
		{`{"l":[{"x":1,"x":2}]}`, `its detail names "x" twice`},
		{`{"a":{"b":{}},"a":null}`, `its detail names "a" twice`},
		{`{"a":1} {"a":1}`, "its detail is not valid JSON"},
		{`{"a":1}]`, "its detail is not valid JSON"},
		{`{"a":}`, "its detail is not valid JSON"},
		{``, "its detail is not valid JSON"},
	} {
		if got := detailProblem(tc.raw); got != tc.want {
			t.Errorf("detailProblem(%s) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// The keyed link covers the stored bytes: two encodings of the same detail link
// differently, so a re-encoding cannot stand in for what is stored.
func TestKeyedLinkCoversRawDetail(t *testing.T) {
	l, err := NewAuditLog(struct{ AuditStore }{}, struct{ Transactor }{}, AuditConfig{Keys: AuditKeys{Chain: make([]byte, 32), Checkpoint: append(make([]byte, 31), 1)}})
	if err != nil {
		t.Fatal(err)
	}
	a := AuditEntry{Seq: 1, Kind: "k", RawDetail: `{"a":1,"b":2}`}
	b := a
	b.RawDetail = `{"b":2,"a":1}`
	if l.keyedLink(a) == l.keyedLink(b) {
		t.Fatal("two stored encodings share a link")
	}
}

// BenchmarkAuditLink compares the link alone: the keyless SHA-256 over a re-encoded
// detail (before) and the keyed HMAC-SHA256 over the stored bytes (now).
//
//	go test ./identity/ -run '^$' -bench AuditLink
func BenchmarkAuditLink(b *testing.B) {
	l, err := NewAuditLog(struct{ AuditStore }{}, struct{ Transactor }{}, AuditConfig{Keys: AuditKeys{Chain: make([]byte, 32), Checkpoint: append(make([]byte, 31), 1)}})
	if err != nil {
		b.Fatal(err)
	}
	detail := map[string]any{"id": "0f9c2b1e-5b7a-4a39-9d1e-3c8e6f1a2b4d", "reason": "incident 4711", "suspend": true, "sessions": 2, "tokens": 5}
	e := AuditEntry{Seq: 4711, At: time.Now().UTC(), Kind: "revocation", Actor: "soar-client", Subject: "subject:3b2f0c", Detail: detail,
		RawDetail: `{"id":"0f9c2b1e-5b7a-4a39-9d1e-3c8e6f1a2b4d","reason":"incident 4711","sessions":2,"suspend":true,"tokens":5}`,
		PrevHash:  strings.Repeat("ab", 32)}
	b.Run("keyless-sha256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := LegacyAuditHash(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyed-hmac", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.keyedLink(e)
		}
	})
}
