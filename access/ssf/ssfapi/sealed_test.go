package ssfapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/weft-fabric/weft/access/outbox"
)

// recordingClient stands in for the outbound client: it records each push and
// answers 202, without any network.
type recordingClient struct {
	mu   sync.Mutex
	auth []string
}

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	c.mu.Unlock()
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
}

func (c *recordingClient) sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auth...)
}

func (en *env) deliver(t *testing.T, streamID string) error {
	t.Helper()
	return en.tr.DeliverPush(context.Background(), outbox.Message{ID: "jti-" + streamID, Kind: "ssf_push", StreamID: streamID,
		Payload: []byte(`{"claims":{"jti":"jti-` + streamID + `"}}`)})
}

// TestSSF_AuthorizationHeaderEncrypted: a push stream's authorization header is
// stored encrypted with the key-encryption key, never in clear and never shown back,
// and deliveries still send it (issue 9, L5). A header stored in clear before
// migration 00018 is sent until the server seals it at start-up, then only sealed.
func TestSSF_AuthorizationHeaderEncrypted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		rec := &recordingClient{}
		en.tr.Client = rec
		r := en.call(http.MethodPost, "/ssf/stream", tokA, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+
			`","authorization_header":"Bearer rp-secret-123"}}`)
		var push streamConfig
		ok(t, r, http.StatusCreated, &push)
		if strings.Contains(string(r.body), "rp-secret-123") {
			t.Fatalf("shown back: %s", r.body)
		}
		inClear, sealed := en.storedHeader(t, push.StreamID)
		if inClear != "" || len(sealed) == 0 || bytes.Contains(sealed, []byte("rp-secret-123")) || bytes.Contains(sealed, []byte("Bearer")) {
			t.Fatalf("stored: clear %q, sealed %q", inClear, sealed)
		}
		r = en.call(http.MethodGet, "/ssf/stream?stream_id="+push.StreamID, tokA, "")
		if r.code != http.StatusOK || strings.Contains(string(r.body), "rp-secret-123") || strings.Contains(string(r.body), "authorization") {
			t.Fatalf("read shows the header: %s", r)
		}
		if err := en.deliver(t, push.StreamID); err != nil {
			t.Fatal(err)
		}
		if got := rec.sent(); len(got) != 1 || got[0] != "Bearer rp-secret-123" {
			t.Fatalf("sent Authorization %q", got)
		}

		// A ciphertext copied to another stream does not open there: nothing is sent.
		other := en.create(t, tokA, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+`"}}`)
		if _, err := en.db.SQL().Exec(`UPDATE ssf_streams SET authorization_sealed = $1 WHERE id = $2`, sealed, other.StreamID); err != nil {
			t.Fatal(err)
		}
		if err := en.deliver(t, other.StreamID); err == nil || strings.Contains(err.Error(), "rp-secret") {
			t.Fatalf("delivery with a moved ciphertext: %v", err)
		}
		if n := len(rec.sent()); n != 1 {
			t.Fatalf("%d pushes, want still 1", n)
		}

		// A row from before migration 00018: the header in clear.
		legacy := en.create(t, tokB, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+`"}}`)
		if _, err := en.db.SQL().Exec(`UPDATE ssf_streams SET authorization_header = 'Bearer legacy-1' WHERE id = $1`, legacy.StreamID); err != nil {
			t.Fatal(err)
		}
		if err := en.deliver(t, legacy.StreamID); err != nil {
			t.Fatal(err)
		}
		n, err := en.tr.SealLegacyHeaders(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("SealLegacyHeaders = %d, %v; want 1", n, err)
		}
		if h := en.authorizationHeader(t, legacy.StreamID); h != "Bearer legacy-1" {
			t.Fatalf("sealed legacy header %q", h)
		}
		if n, err := en.tr.SealLegacyHeaders(context.Background()); err != nil || n != 0 {
			t.Fatalf("second SealLegacyHeaders = %d, %v; want 0", n, err)
		}
		if err := en.deliver(t, legacy.StreamID); err != nil {
			t.Fatal(err)
		}
		if got := rec.sent(); len(got) != 3 || got[1] != "Bearer legacy-1" || got[2] != "Bearer legacy-1" {
			t.Fatalf("sent %q", got)
		}
		// Setting a new header replaces the sealed one; an empty one removes it.
		ok(t, en.call(http.MethodPatch, "/ssf/stream", tokB, `{"stream_id":"`+legacy.StreamID+`","delivery":{"method":"`+methodPush+
			`","endpoint_url":"`+pushURL+`","authorization_header":""}}`), http.StatusOK, nil)
		if inClear, sealed := en.storedHeader(t, legacy.StreamID); inClear != "" || len(sealed) != 0 {
			t.Fatalf("after removing: clear %q, sealed %x", inClear, sealed)
		}
	})
}
