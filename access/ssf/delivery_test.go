package ssf

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/weft-fabric/weft/access/outbox"
)

// TestSign_IssuerOfTheSigningServer: a SET queued under another issuer setting (a CLI
// run without the server's configuration) is signed under the server's issuer, in iss
// and in every iss_sub subject identifier.
func TestSign_IssuerOfTheSigningServer(t *testing.T) {
	var signed map[string]any
	tr := &Transmitter{Issuer: "https://id.example.com", Sign: func(_ context.Context, claims map[string]any, typ string) (string, error) {
		if typ != "secevent+jwt" {
			t.Fatalf("typ = %q", typ)
		}
		signed = claims
		return "signed", nil
	}}
	queued := &Transmitter{Issuer: "http://localhost:8080"}
	sub := map[string]any{"format": "complex", "user": queued.userSubject("u1"), "session": map[string]any{"format": "opaque", "id": "s1"}}
	b, _ := json.Marshal(payload{Claims: map[string]any{"iss": queued.Issuer, "sub_id": sub, "jti": "j1"}})
	if _, err := tr.sign(context.Background(), outbox.Message{ID: "j1", Payload: b}); err != nil {
		t.Fatal(err)
	}
	user := signed["sub_id"].(map[string]any)["user"].(map[string]any)
	session := signed["sub_id"].(map[string]any)["session"].(map[string]any)
	if signed["iss"] != tr.Issuer || user["iss"] != tr.Issuer || user["sub"] != "u1" || session["iss"] != nil || signed["jti"] != "j1" {
		t.Fatalf("signed claims = %v", signed)
	}
	if _, err := tr.sign(context.Background(), outbox.Message{ID: "bad", Payload: []byte("{}")}); err == nil {
		t.Fatal("a payload without claims was signed")
	}
}

func TestStream_Delivered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested []string
		want      []string
	}{
		{"none", nil, []string{}},
		{"unknown dropped", []string{"urn:example:x", EventSessionRevoked}, []string{EventSessionRevoked}},
		{"order kept, duplicates once", []string{EventAccountEnabled, EventSessionRevoked, EventAccountEnabled}, []string{EventAccountEnabled, EventSessionRevoked}},
		{"not offered", []string{EventTokenClaimsChange}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Stream{EventsRequested: tc.requested}.Delivered()
			if len(got) != len(tc.want) {
				t.Fatalf("Delivered = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("Delivered = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
