package ssfapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestSSF_Configuration: the Transmitter Configuration Metadata, against
// testdata/ssf-configuration.json (go test -run TestSSF_Configuration -update rewrites
// it); it needs no token, and every endpoint it names is served. It reads no database,
// so one backend is enough.
func TestSSF_Configuration(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	r := en.call(http.MethodGet, "/.well-known/ssf-configuration", "", "")
	if r.code != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=300" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("got %s (%v)", r, r.header)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, bytes.TrimSpace(r.body), "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "ssf-configuration.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("configuration differs from %s (run with -update if the change is meant):\n%s", golden, got.String())
	}

	// What must survive an -update.
	var doc struct {
		SpecVersion     string   `json:"spec_version"`
		Issuer          string   `json:"issuer"`
		JWKSURI         string   `json:"jwks_uri"`
		DeliveryMethods []string `json:"delivery_methods_supported"`
		Configuration   string   `json:"configuration_endpoint"`
		Status          string   `json:"status_endpoint"`
		Verification    string   `json:"verification_endpoint"`
		AuthSchemes     []struct {
			SpecURN string `json:"spec_urn"`
		} `json:"authorization_schemes"`
		DefaultSubjects string `json:"default_subjects"`
		AddSubject      string `json:"add_subject_endpoint"`
		RemoveSubject   string `json:"remove_subject_endpoint"`
	}
	r.decode(t, &doc)
	if doc.SpecVersion != "1_0" || doc.Issuer != issuer || doc.JWKSURI != issuer+"/.well-known/jwks.json" ||
		!slices.Equal(doc.DeliveryMethods, []string{methodPush, methodPoll}) ||
		len(doc.AuthSchemes) != 1 || doc.AuthSchemes[0].SpecURN != "urn:ietf:rfc:6749" ||
		// New streams get no subject until the receiver adds it (issue 9, L7).
		doc.DefaultSubjects != "NONE" || doc.AddSubject != issuer+"/ssf/subjects:add" || doc.RemoveSubject != issuer+"/ssf/subjects:remove" {
		t.Fatalf("configuration %+v", doc)
	}
	for _, ep := range []struct{ url, method string }{
		{doc.Configuration, http.MethodPost}, {doc.Configuration, http.MethodGet}, {doc.Configuration, http.MethodPatch},
		{doc.Configuration, http.MethodPut}, {doc.Configuration, http.MethodDelete},
		{doc.Status, http.MethodGet}, {doc.Status, http.MethodPost}, {doc.Verification, http.MethodPost},
		{doc.AddSubject, http.MethodPost}, {doc.RemoveSubject, http.MethodPost},
	} {
		path, found := strings.CutPrefix(ep.url, issuer)
		if !found || !routed(en, ep.method, path) {
			t.Errorf("%s %s is not served under the issuer", ep.method, ep.url)
		}
	}
}

func routed(en *env, method, path string) bool {
	for _, rt := range en.e.Routes() {
		// Escaped colons ("subjects\\:add") are literal in the served path.
		if rt.Method == method && strings.ReplaceAll(rt.Path, "\\:", ":") == path {
			return true
		}
	}
	return false
}

// endpoint is one authenticated SSF call on stream id (the placeholder {id}).
type endpoint struct {
	name, method, path, body string
}

func endpoints() []endpoint {
	return []endpoint{
		{"create", http.MethodPost, "/ssf/stream", pollStream("new", evSessionRevoked)},
		{"list", http.MethodGet, "/ssf/stream", ""},
		{"read", http.MethodGet, "/ssf/stream?stream_id={id}", ""},
		{"update", http.MethodPatch, "/ssf/stream", `{"stream_id":"{id}","description":"changed"}`},
		{"replace", http.MethodPut, "/ssf/stream", `{"stream_id":"{id}","delivery":{"method":"` + methodPoll + `"}}`},
		{"delete", http.MethodDelete, "/ssf/stream?stream_id={id}", ""},
		{"status", http.MethodGet, "/ssf/status?stream_id={id}", ""},
		{"set status", http.MethodPost, "/ssf/status", `{"stream_id":"{id}","status":"disabled"}`},
		{"verify", http.MethodPost, "/ssf/verify", `{"stream_id":"{id}","state":"s"}`},
		{"poll", http.MethodPost, "/ssf/poll/{id}", `{"returnImmediately":true}`},
	}
}

func (ep endpoint) on(id string) (path, body string) {
	return strings.ReplaceAll(ep.path, "{id}", id), strings.ReplaceAll(ep.body, "{id}", id)
}

// TestSSF_Authentication: every stream endpoint needs an access token with weft:ssf;
// refusals are problems with the RFC 6750 challenge, and change nothing.
func TestSSF_Authentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("mine", evSessionRevoked))
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`"}`), http.StatusNoContent, nil)
		before := en.snapshot(t)
		for _, ep := range endpoints() {
			path, body := ep.on(s.StreamID)
			for _, tc := range []struct {
				name, token string
				want        int
				challenge   string
			}{
				{"no token", "", 401, `Bearer realm="weft"`},
				{"unknown token", tokUnknown, 401, `Bearer realm="weft", error="invalid_token"`},
				{"refresh token", tokRefresh, 401, `Bearer realm="weft", error="invalid_token"`},
				{"no weft:ssf", tokNoScope, 403, `Bearer realm="weft", error="insufficient_scope", scope="weft:ssf"`},
			} {
				t.Run(ep.name+" "+tc.name, func(t *testing.T) {
					r := en.call(ep.method, path, tc.token, body)
					problemOf(t, r, tc.want)
					if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
						t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
					}
					if strings.Contains(string(r.body), "mine") || strings.Contains(string(r.body), "sets") {
						t.Fatalf("a refused call showed the stream: %s", r.body)
					}
				})
			}
		}
		en.unchanged(t, "refused calls", before)
		// rcv-a itself still sees its stream and its queued event.
		if p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(p.Sets) != 1 {
			t.Fatalf("poll after refused calls: %+v", p)
		}
	})
}

// TestSSF_Streams: a receiver creates poll and push streams, reads, updates, replaces
// and deletes them; the answers are SSF stream configurations and the database follows.
func TestSSF_Streams(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		// A poll stream: the transmitter supplies its URL; unknown and unsupported event
		// types are kept as requested but not delivered.
		poll := en.create(t, tokA, pollStream("alerts", evSessionRevoked, "urn:example:unknown", evClaimsChange, evAccountDisabled))
		if poll.Iss != issuer || poll.Aud != rcvA || poll.Delivery.Method != methodPoll ||
			poll.Delivery.EndpointURL != issuer+"/ssf/poll/"+poll.StreamID || poll.Description != "alerts" ||
			!slices.Equal(poll.EventsSupported, supported) ||
			!slices.Equal(poll.EventsRequested, []string{evSessionRevoked, "urn:example:unknown", evClaimsChange, evAccountDisabled}) ||
			!slices.Equal(poll.EventsDelivered, []string{evSessionRevoked, evAccountDisabled}) {
			t.Fatalf("poll stream = %+v", poll)
		}
		// A push stream: its authorization header is stored and never shown back.
		r := en.call(http.MethodPost, "/ssf/stream", tokA, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+
			`","authorization_header":"Bearer rp-secret-123"},"events_requested":["`+evVerification+`"]}`)
		var push streamConfig
		ok(t, r, http.StatusCreated, &push)
		if push.StreamID == "" || push.StreamID == poll.StreamID || push.Delivery.Method != methodPush || push.Delivery.EndpointURL != pushURL ||
			push.Description != "" || !slices.Equal(push.EventsDelivered, []string{evVerification}) {
			t.Fatalf("push stream = %+v", push)
		}
		if strings.Contains(string(r.body), "rp-secret-123") || strings.Contains(string(r.body), "authorization_header") {
			t.Fatalf("the authorization header was shown back: %s", r.body)
		}
		if h := en.authorizationHeader(t, push.StreamID); h != "Bearer rp-secret-123" {
			t.Fatalf("stored authorization header %q", h)
		}
		// Another receiver's stream, which rcv-a never sees.
		theirs := en.create(t, tokB, pollStream("theirs"))

		// Reading.
		var list []streamConfig
		r = en.call(http.MethodGet, "/ssf/stream", tokA, "")
		ok(t, r, http.StatusOK, &list)
		if len(list) != 2 || list[0].StreamID != poll.StreamID || list[1].StreamID != push.StreamID || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("list = %+v", list)
		}
		var one streamConfig
		ok(t, en.call(http.MethodGet, "/ssf/stream?stream_id="+poll.StreamID, tokA, ""), http.StatusOK, &one)
		if one.StreamID != poll.StreamID || one.Description != "alerts" || !slices.Equal(one.EventsRequested, poll.EventsRequested) {
			t.Fatalf("read = %+v", one)
		}
		ok(t, en.call(http.MethodGet, "/ssf/stream", tokB, ""), http.StatusOK, &list)
		if len(list) != 1 || list[0].StreamID != theirs.StreamID || list[0].Aud != rcvB {
			t.Fatalf("rcv-b's list = %+v", list)
		}

		// PATCH changes what it names and keeps the rest, the write-only header included.
		// A SET queued for the push stream follows its new endpoint.
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+push.StreamID+`","state":"before-move"}`), http.StatusNoContent, nil)
		ok(t, en.call(http.MethodPatch, "/ssf/stream", tokA, `{"stream_id":"`+push.StreamID+`","description":"moved",`+
			`"delivery":{"method":"`+methodPush+`","endpoint_url":"https://rp.example/ssf/v2"}}`), http.StatusOK, &one)
		if one.Description != "moved" || one.Delivery.EndpointURL != "https://rp.example/ssf/v2" || !slices.Equal(one.EventsRequested, []string{evVerification}) {
			t.Fatalf("patched = %+v", one)
		}
		if h := en.authorizationHeader(t, push.StreamID); h != "Bearer rp-secret-123" {
			t.Fatalf("PATCH without the header changed it to %q", h)
		}
		if q := en.queue(t, push.StreamID); len(q) != 1 || q[0].Target != "https://rp.example/ssf/v2" || q[0].Kind != "ssf_push" || q[0].Delivered {
			t.Fatalf("queued SETs after the move = %+v", q)
		}
		ok(t, en.call(http.MethodPatch, "/ssf/stream", tokA, `{"stream_id":"`+poll.StreamID+`","events_requested":["`+evCredentialChange+`"]}`), http.StatusOK, &one)
		if one.Description != "alerts" || !slices.Equal(one.EventsRequested, []string{evCredentialChange}) ||
			!slices.Equal(one.EventsDelivered, []string{evCredentialChange}) {
			t.Fatalf("patched events = %+v", one)
		}

		// PUT replaces: what it leaves out is reset. A receiver may send back what it
		// read (the transmitter-supplied members included).
		ok(t, en.call(http.MethodPut, "/ssf/stream", tokA, `{"stream_id":"`+poll.StreamID+`","delivery":{"method":"`+methodPoll+`"}}`), http.StatusOK, &one)
		if one.Description != "" || len(one.EventsRequested) != 0 || len(one.EventsDelivered) != 0 || one.EventsRequested == nil {
			t.Fatalf("replaced = %+v", one)
		}
		var read map[string]any
		ok(t, en.call(http.MethodGet, "/ssf/stream?stream_id="+poll.StreamID, tokA, ""), http.StatusOK, &read)
		read["description"] = "echoed"
		read["events_requested"] = []string{evAccountEnabled}
		echo, _ := json.Marshal(read)
		ok(t, en.call(http.MethodPut, "/ssf/stream", tokA, string(echo)), http.StatusOK, &one)
		if one.Description != "echoed" || !slices.Equal(one.EventsRequested, []string{evAccountEnabled}) ||
			one.Delivery.EndpointURL != issuer+"/ssf/poll/"+poll.StreamID {
			t.Fatalf("replaced with an echo = %+v", one)
		}

		// DELETE: the stream goes, its undelivered SETs are given up, others stay.
		r = en.call(http.MethodDelete, "/ssf/stream?stream_id="+push.StreamID, tokA, "")
		if r.code != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("delete: %s", r)
		}
		problemOf(t, en.call(http.MethodGet, "/ssf/stream?stream_id="+push.StreamID, tokA, ""), http.StatusNotFound)
		problemOf(t, en.call(http.MethodDelete, "/ssf/stream?stream_id="+push.StreamID, tokA, ""), http.StatusNotFound)
		if q := en.queue(t, push.StreamID); len(q) != 1 || !q[0].Failed || q[0].LastError != "stream deleted" {
			t.Fatalf("queued SETs of the deleted stream = %+v", q)
		}
		ok(t, en.call(http.MethodGet, "/ssf/stream", tokA, ""), http.StatusOK, &list)
		if len(list) != 1 || list[0].StreamID != poll.StreamID {
			t.Fatalf("list after delete = %+v", list)
		}
		if n := en.streams(t); n != 2 {
			t.Fatalf("%d streams in the database, want 2", n)
		}

		// A receiver has at most 10 streams.
		for range 9 {
			en.create(t, tokA, pollStream("more"))
		}
		before := en.snapshot(t)
		problemOf(t, en.call(http.MethodPost, "/ssf/stream", tokA, pollStream("one too many")), http.StatusConflict)
		en.unchanged(t, "the eleventh stream", before)
		en.create(t, tokB, pollStream("rcv-b has room"))
	})
}

// TestSSF_OtherReceiversStream: another receiver's stream is a 404 on every endpoint,
// the same answer as for a stream that does not exist, and is left unchanged.
func TestSSF_OtherReceiversStream(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("mine", evSessionRevoked))
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"x"}`), http.StatusNoContent, nil)
		before := en.snapshot(t)
		for _, ep := range endpoints() {
			if !strings.Contains(ep.path+ep.body, "{id}") {
				continue
			}
			t.Run(ep.name, func(t *testing.T) {
				path, body := ep.on(s.StreamID)
				theirs := problemOf(t, en.call(ep.method, path, tokB, body), http.StatusNotFound)
				path, body = ep.on("00000000-0000-4000-8000-000000000000")
				missing := problemOf(t, en.call(ep.method, path, tokB, body), http.StatusNotFound)
				if theirs.Title != missing.Title || theirs.Detail != missing.Detail || theirs.Field != missing.Field {
					t.Fatalf("another's stream answers %+v, a missing one %+v", theirs, missing)
				}
			})
		}
		en.unchanged(t, "another receiver's calls", before)
		var st statusAnswer
		ok(t, en.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, tokA, ""), http.StatusOK, &st)
		if st.Status != "enabled" {
			t.Fatalf("status = %+v", st)
		}
	})
}

// TestSSF_Status: reading and setting a stream's status; paused holds events until
// enabled, disabled drops them; each change is told to the receiver (stream-updated).
func TestSSF_Status(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("st", evSessionRevoked))
		status := func() statusAnswer {
			t.Helper()
			var st statusAnswer
			r := en.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, tokA, "")
			ok(t, r, http.StatusOK, &st)
			if st.StreamID != s.StreamID || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("status = %s", r)
			}
			return st
		}
		setStatus := func(to, reason string) {
			t.Helper()
			var st statusAnswer
			ok(t, en.call(http.MethodPost, "/ssf/status", tokA, `{"stream_id":"`+s.StreamID+`","status":"`+to+`","reason":"`+reason+`"}`), http.StatusOK, &st)
			if st.StreamID != s.StreamID || st.Status != to || st.Reason != reason {
				t.Fatalf("set %s: %+v", to, st)
			}
		}
		if st := status(); st.Status != "enabled" || st.Reason != "" {
			t.Fatalf("a new stream is %+v", st)
		}

		setStatus("paused", "maintenance")
		if st := status(); st.Status != "paused" || st.Reason != "maintenance" {
			t.Fatalf("status = %+v", st)
		}
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"while-paused"}`), http.StatusNoContent, nil)
		if p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(p.Sets) != 0 {
			t.Fatalf("a paused stream served %d SETs", len(p.Sets))
		}
		setStatus("enabled", "")
		got := map[string][]map[string]any{}
		for _, st := range en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`).sets(t) {
			typ, body := st.event(t)
			got[typ] = append(got[typ], body)
		}
		if len(got[evVerification]) != 1 || got[evVerification][0]["state"] != "while-paused" || len(got[evStreamUpdated]) != 2 || len(got) != 2 {
			t.Fatalf("after enabling: %v", got)
		}
		told := []string{}
		for _, body := range got[evStreamUpdated] {
			told = append(told, fmt.Sprint(body["status"], "/", body["reason"]))
		}
		if slices.Sort(told); !slices.Equal(told, []string{"enabled/<nil>", "paused/maintenance"}) {
			t.Fatalf("stream-updated events = %v", got[evStreamUpdated])
		}

		// Disabled: what was waiting is given up, and new events are dropped.
		setStatus("disabled", "")
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"while-disabled"}`), http.StatusNoContent, nil)
		for _, q := range en.queue(t, s.StreamID) {
			if !q.Delivered && !q.Failed {
				t.Fatalf("a disabled stream keeps a pending SET: %+v", q)
			}
		}
		// Setting the status it has changes nothing and tells nobody.
		before := en.snapshot(t)
		var st statusAnswer
		ok(t, en.call(http.MethodPost, "/ssf/status", tokA, `{"stream_id":"`+s.StreamID+`","status":"disabled"}`), http.StatusOK, &st)
		if st.Status != "disabled" {
			t.Fatalf("status = %+v", st)
		}
		after := en.snapshot(t)
		if !slices.Equal(before["outbox"], after["outbox"]) {
			t.Fatalf("setting the same status queued an event:\n%v\n%v", before["outbox"], after["outbox"])
		}

		// Bad requests change nothing.
		before = en.snapshot(t)
		for _, body := range []string{
			`{"stream_id":"` + s.StreamID + `","status":"asleep"}`,
			`{"stream_id":"` + s.StreamID + `"}`,
			`{"status":"enabled"}`,
			`{"stream_id":"` + s.StreamID + `","status":"enabled","reason":"` + strings.Repeat("r", 1025) + `"}`,
		} {
			problemOf(t, en.call(http.MethodPost, "/ssf/status", tokA, body), http.StatusBadRequest)
		}
		problemOf(t, en.call(http.MethodGet, "/ssf/status", tokA, ""), http.StatusBadRequest)
		en.unchanged(t, "bad status requests", before)
	})
}

// TestSSF_VerifyAndPoll: verification queues an event carrying the receiver's state,
// whatever the stream requested; polling serves SETs until they are acknowledged,
// honours maxEvents, takes error reports, ignores acknowledgements of other streams'
// SETs and waits (bounded) when asked to.
func TestSSF_VerifyAndPoll(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("vp", evSessionRevoked)) // verification not requested
		other := en.create(t, tokB, pollStream("other"))

		r := en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"VGhpcyBpcyBhbiBleGFtcGxl"}`)
		if r.code != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("verify: %s", r)
		}
		p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`)
		sets := p.sets(t)
		if len(sets) != 1 || p.MoreAvailable {
			t.Fatalf("poll = %+v", p)
		}
		v := sets[0]
		typ, body := v.event(t)
		if typ != evVerification || body["state"] != "VGhpcyBpcyBhbiBleGFtcGxl" || v.Iss != issuer || v.Aud != rcvA || v.Iat == 0 || v.Txn != "" ||
			v.SubID["format"] != "opaque" || v.SubID["id"] != s.StreamID {
			t.Fatalf("verification SET = %+v", v)
		}
		// Not acknowledged: served again, the same SET.
		if again := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(again.Sets) != 1 || again.Sets[v.Jti] != p.Sets[v.Jti] {
			t.Fatalf("second poll = %+v", again)
		}
		if q := en.queue(t, s.StreamID); len(q) != 1 || q[0].Kind != "ssf_poll" || q[0].Attempts != 2 || q[0].Delivered {
			t.Fatalf("queued = %+v", q)
		}
		// Another receiver acknowledging it, on its own stream, changes nothing.
		en.poll(t, tokB, other.StreamID, `{"ack":["`+v.Jti+`"],"returnImmediately":true}`)
		if q := en.queue(t, s.StreamID); q[0].Delivered {
			t.Fatal("another stream's acknowledgement reached this stream's SET")
		}
		// Acknowledged: gone.
		if done := en.poll(t, tokA, s.StreamID, `{"ack":["`+v.Jti+`"],"maxEvents":0}`); len(done.Sets) != 0 {
			t.Fatalf("poll with maxEvents 0 = %+v", done)
		}
		if q := en.queue(t, s.StreamID); !q[0].Delivered || q[0].LastError != "" {
			t.Fatalf("after the ack: %+v", q)
		}
		if empty := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(empty.Sets) != 0 {
			t.Fatalf("an acknowledged SET was served again: %+v", empty)
		}

		// maxEvents and moreAvailable.
		for _, state := range []string{"one", "two", "three"} {
			ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"`+state+`"}`), http.StatusNoContent, nil)
		}
		p = en.poll(t, tokA, s.StreamID, `{"maxEvents":2,"returnImmediately":true}`)
		if len(p.Sets) != 2 || !p.MoreAvailable {
			t.Fatalf("first page = %+v", p)
		}
		var acks []string
		for jti := range p.Sets {
			acks = append(acks, jti)
		}
		ack, _ := json.Marshal(acks)
		p = en.poll(t, tokA, s.StreamID, `{"ack":`+string(ack)+`,"maxEvents":2,"returnImmediately":true}`)
		last := p.sets(t)
		if len(last) != 1 || p.MoreAvailable || slices.Contains(acks, last[0].Jti) {
			t.Fatalf("second page = %+v", p)
		}
		// An error report acknowledges the SET and is kept for the receipt.
		en.poll(t, tokA, s.StreamID, `{"setErrs":{"`+last[0].Jti+`":{"err":"invalid_key","description":"unknown kid"}},"maxEvents":0}`)
		q := en.queue(t, s.StreamID)
		i := slices.IndexFunc(q, func(m queued) bool { return m.ID == last[0].Jti })
		if len(q) != 4 || i < 0 || !q[i].Delivered || q[i].LastError != "receiver reported: invalid_key: unknown kid" {
			t.Fatalf("after the error report: %+v", q)
		}

		// Without returnImmediately, an empty poll waits for the long-poll bound.
		start := time.Now()
		if p := en.poll(t, tokA, s.StreamID, `{}`); len(p.Sets) != 0 {
			t.Fatalf("long poll = %+v", p)
		}
		if waited := time.Since(start); waited < longPoll {
			t.Fatalf("an empty long poll answered after %v, before the %v bound", waited, longPoll)
		}

		// A push stream is verified through the outbox, addressed to its endpoint, and
		// cannot be polled.
		push := en.create(t, tokA, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+`"}}`)
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+push.StreamID+`"}`), http.StatusNoContent, nil)
		if q := en.queue(t, push.StreamID); len(q) != 1 || q[0].Kind != "ssf_push" || q[0].Target != pushURL || q[0].Delivered || q[0].Attempts != 0 {
			t.Fatalf("queued for the push stream = %+v", q)
		}
		before := en.snapshot(t)
		problemOf(t, en.call(http.MethodPost, "/ssf/poll/"+push.StreamID, tokA, `{"returnImmediately":true}`), http.StatusBadRequest)
		en.unchanged(t, "polling a push stream", before)
	})
}

// TestSSF_BadInput: bodies that are not one strict JSON object of the right shape are
// 4xx problems on every endpoint that takes one, and change nothing.
func TestSSF_BadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("keep", evSessionRevoked))
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"pending"}`), http.StatusNoContent, nil)
		id := s.StreamID
		before := en.snapshot(t)
		long := strings.Repeat("x", 65<<10)
		for _, tc := range []struct {
			name, method, path, body string
			ctype                    []string
			want                     int
			field                    string
		}{
			{name: "create: not JSON", method: http.MethodPost, path: "/ssf/stream", body: `delivery=poll`, want: 400},
			{name: "create: array", method: http.MethodPost, path: "/ssf/stream", body: `[` + pollStream("x") + `]`, want: 400},
			{name: "create: trailing object", method: http.MethodPost, path: "/ssf/stream", body: pollStream("x") + `{}`, want: 400},
			{name: "create: trailing text", method: http.MethodPost, path: "/ssf/stream", body: pollStream("x") + ` and more`, want: 400},
			{name: "create: unknown field", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPoll + `"},"format":"jwt"}`, want: 400, field: "format"},
			{name: "create: unknown delivery field", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPoll + `","mode":"x"}}`, want: 400, field: "mode"},
			{name: "create: events not a list", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPoll + `"},"events_requested":"` + evSessionRevoked + `"}`, want: 400, field: "events_requested"},
			{name: "create: event not a string", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPoll + `"},"events_requested":[1]}`, want: 400, field: "events_requested"},
			{name: "create: method not a string", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":8936}}`, want: 400, field: "delivery.method"},
			{name: "create: description not a string", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPoll + `"},"description":true}`, want: 400, field: "description"},
			{name: "create: no delivery", method: http.MethodPost, path: "/ssf/stream", body: `{"description":"x"}`, want: 400},
			{name: "create: push to http", method: http.MethodPost, path: "/ssf/stream", body: `{"delivery":{"method":"` + methodPush + `","endpoint_url":"http://rp.example/e"}}`, want: 400},
			{name: "create: text/plain", method: http.MethodPost, path: "/ssf/stream", body: pollStream("x"), ctype: []string{"text/plain"}, want: 415},
			{name: "create: no content type", method: http.MethodPost, path: "/ssf/stream", body: pollStream("x"), ctype: []string{""}, want: 415},
			{name: "create: too large", method: http.MethodPost, path: "/ssf/stream", body: pollStream(long), want: 413},
			{name: "update: unknown field", method: http.MethodPatch, path: "/ssf/stream", body: `{"stream_id":"` + id + `","description":"changed","colour":"red"}`, want: 400, field: "colour"},
			{name: "update: trailing data", method: http.MethodPatch, path: "/ssf/stream", body: `{"stream_id":"` + id + `","description":"changed"}]`, want: 400},
			{name: "update: id not a string", method: http.MethodPatch, path: "/ssf/stream", body: `{"stream_id":1,"description":"changed"}`, want: 400, field: "stream_id"},
			{name: "update: no id", method: http.MethodPatch, path: "/ssf/stream", body: `{"description":"changed"}`, want: 400},
			{name: "update: change method", method: http.MethodPatch, path: "/ssf/stream", body: `{"stream_id":"` + id + `","delivery":{"method":"` + methodPush + `","endpoint_url":"` + pushURL + `"},"description":"changed"}`, want: 400},
			{name: "update: wrong aud", method: http.MethodPatch, path: "/ssf/stream", body: `{"stream_id":"` + id + `","aud":"` + rcvB + `","description":"changed"}`, want: 400},
			{name: "replace: no delivery", method: http.MethodPut, path: "/ssf/stream", body: `{"stream_id":"` + id + `","description":"changed"}`, want: 400},
			{name: "replace: wrong iss", method: http.MethodPut, path: "/ssf/stream", body: `{"stream_id":"` + id + `","iss":"https://evil.example","delivery":{"method":"` + methodPoll + `"}}`, want: 400},
			{name: "replace: another poll URL", method: http.MethodPut, path: "/ssf/stream", body: `{"stream_id":"` + id + `","delivery":{"method":"` + methodPoll + `","endpoint_url":"https://evil.example/poll"}}`, want: 400},
			{name: "replace: form", method: http.MethodPut, path: "/ssf/stream", body: `stream_id=` + id, ctype: []string{"application/x-www-form-urlencoded"}, want: 415},
			{name: "delete: no id", method: http.MethodDelete, path: "/ssf/stream", want: 400},
			{name: "status: status not a string", method: http.MethodPost, path: "/ssf/status", body: `{"stream_id":"` + id + `","status":false}`, want: 400, field: "status"},
			{name: "status: unknown field", method: http.MethodPost, path: "/ssf/status", body: `{"stream_id":"` + id + `","status":"paused","until":"later"}`, want: 400, field: "until"},
			{name: "status: trailing data", method: http.MethodPost, path: "/ssf/status", body: `{"stream_id":"` + id + `","status":"paused"}{"status":"disabled"}`, want: 400},
			{name: "verify: unknown field", method: http.MethodPost, path: "/ssf/verify", body: `{"stream_id":"` + id + `","nonce":"x"}`, want: 400, field: "nonce"},
			{name: "verify: state not a string", method: http.MethodPost, path: "/ssf/verify", body: `{"stream_id":"` + id + `","state":{"v":1}}`, want: 400, field: "state"},
			{name: "verify: state too long", method: http.MethodPost, path: "/ssf/verify", body: `{"stream_id":"` + id + `","state":"` + strings.Repeat("s", 1025) + `"}`, want: 400},
			{name: "verify: no id", method: http.MethodPost, path: "/ssf/verify", body: `{"state":"x"}`, want: 400},
			{name: "verify: empty body", method: http.MethodPost, path: "/ssf/verify", body: ``, ctype: []string{"application/json"}, want: 400},
			{name: "poll: maxEvents not a number", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"maxEvents":"ten","returnImmediately":true}`, want: 400, field: "maxEvents"},
			{name: "poll: returnImmediately not a boolean", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"returnImmediately":"yes"}`, want: 400, field: "returnImmediately"},
			{name: "poll: ack not a list", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"ack":"jti","returnImmediately":true}`, want: 400, field: "ack"},
			{name: "poll: unknown field", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"max":1,"returnImmediately":true}`, want: 400, field: "max"},
			{name: "poll: negative maxEvents", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"maxEvents":-1,"returnImmediately":true}`, want: 400},
			{name: "poll: too many maxEvents", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"maxEvents":1001,"returnImmediately":true}`, want: 400},
			{name: "poll: trailing data", method: http.MethodPost, path: "/ssf/poll/" + id, body: `{"returnImmediately":true} {}`, want: 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := problemOf(t, en.call(tc.method, tc.path, tokA, tc.body, tc.ctype...), tc.want)
				if tc.field != "" && p.Field != tc.field {
					t.Fatalf("field %q, want %q (%+v)", p.Field, tc.field, p)
				}
			})
		}
		en.unchanged(t, "bad requests", before)
		var got streamConfig
		ok(t, en.call(http.MethodGet, "/ssf/stream?stream_id="+id, tokA, ""), http.StatusOK, &got)
		if got.Description != "keep" || got.Delivery.Method != methodPoll || !slices.Equal(got.EventsRequested, []string{evSessionRevoked}) {
			t.Fatalf("stream after bad requests = %+v", got)
		}
		// The pending SET was neither served nor acknowledged by the refused polls.
		if p := en.poll(t, tokA, id, `{"returnImmediately":true}`); len(p.Sets) != 1 {
			t.Fatalf("poll after bad requests = %+v", p)
		}
	})
}

// A person's token with weft:ssf must belong to weft-admins, as on the admin API
// (issue 9, L2); a receiver's own client token needs no such membership.
func TestStreams_PeopleMustBeAdmins(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	ctx := context.Background()
	person, err := en.dir.CreateUser(ctx, identity.NewUser{Username: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	en.tokens.Mint("tok-person", rcvA, person.ID, "sid-1", ssf.Scope)
	body := `{"delivery":{"method":"` + ssf.MethodPoll + `"},"events_requested":["` + ssf.EventSessionRevoked + `"]}`
	if got := en.call(http.MethodPost, ssf.PathStream, "tok-person", body); got.code != http.StatusForbidden {
		t.Fatalf("a person outside weft-admins created a stream: %d %s", got.code, got.body)
	}
	if got := en.call(http.MethodPost, ssf.PathStream, tokA, body); got.code != http.StatusCreated {
		t.Fatalf("the receiver's own token: %d %s", got.code, got.body)
	}
}

// TestSSF_VerifyRateLimit: verification requests are limited per stream (a burst of
// three, then one every ten seconds): beyond it 429 problem+json with Retry-After, and
// nothing is queued. Another receiver probing the stream gets 404 and spends nothing,
// and the receiver's other stream has its own budget.
func TestSSF_VerifyRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		en.tr.VerifyLimit = nil // the default limit
		s := en.create(t, tokA, pollStream("limited"))
		other := en.create(t, tokA, pollStream("other"))
		verify := func(tok, id, state string) response {
			return en.call(http.MethodPost, "/ssf/verify", tok, `{"stream_id":"`+id+`","state":"`+state+`"}`)
		}
		for range 5 {
			ok(t, verify(tokB, s.StreamID, "probe"), http.StatusNotFound, nil)
		}
		for _, state := range []string{"one", "two", "three"} {
			ok(t, verify(tokA, s.StreamID, state), http.StatusNoContent, nil)
		}
		r := verify(tokA, s.StreamID, "four")
		if r.code != http.StatusTooManyRequests || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("fourth verification = %s (%s), want 429 problem+json", r, r.header.Get("Content-Type"))
		}
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 10 {
			t.Fatalf("Retry-After = %q, want 1 to 10 seconds", r.header.Get("Retry-After"))
		}
		ok(t, verify(tokA, other.StreamID, "elsewhere"), http.StatusNoContent, nil)
		if p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(p.Sets) != 3 {
			t.Fatalf("queued %d verification SETs, want 3 (the refused one queues nothing)", len(p.Sets))
		}
	})
}

// TestSSF_LongPollBounded (review S1): at most two long polls wait on one stream; a
// third answers at once instead of adding to the queries the waits cost. A waiting poll
// is woken when a SET is queued, without waiting for its next look.
func TestSSF_LongPollBounded(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	en.tr.LongPoll = 5 * time.Second
	en.tr.Wake = outbox.NewSignal()
	s := en.create(t, tokA, pollStream("bounded"))
	type answer struct {
		r   response
		dur time.Duration
	}
	answers := make(chan answer, 3)
	poll := func() {
		start := time.Now()
		r := en.call(http.MethodPost, "/ssf/poll/"+s.StreamID, tokA, `{}`)
		answers <- answer{r, time.Since(start)}
	}
	go poll()
	go poll()
	time.Sleep(300 * time.Millisecond) // both are waiting
	go poll()
	select {
	case a := <-answers:
		if a.r.code != http.StatusOK || a.dur > 2*time.Second {
			t.Fatalf("third poll = %s after %s, want an empty answer at once", a.r, a.dur)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a third long poll waited alongside two others")
	}
	// A SET arrives: the waiting polls answer at once with it.
	ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"now"}`), http.StatusNoContent, nil)
	woke := time.Now()
	en.tr.Wake.Notify()
	for range 2 {
		select {
		case a := <-answers:
			var p pollAnswer
			a.r.decode(t, &p)
			if a.r.code != http.StatusOK || len(p.Sets) != 1 {
				t.Fatalf("woken poll = %s", a.r)
			}
			// Sooner than the one-second look a poll takes unwoken.
			if d := time.Since(woke); d > 900*time.Millisecond {
				t.Fatalf("a waiting poll answered %s after the wake-up", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a waiting poll was not woken by the queued SET")
		}
	}
}

// TestSSF_PendingCap: a stream whose receiver leaves its SETs waiting is disabled with
// the reason once it holds the cap, rather than growing the outbox without end; its
// waiting SETs are dropped and nothing more is queued until it is enabled again.
func TestSSF_PendingCap(t *testing.T) {
	en := newEnv(t, sqltest.SQLite)
	en.tr.MaxPending = 3
	s := en.create(t, tokA, pollStream("never polled"))
	for _, state := range []string{"1", "2", "3", "4", "5"} {
		ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"`+state+`"}`), http.StatusNoContent, nil)
	}
	var st struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	ok(t, en.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, tokA, ""), http.StatusOK, &st)
	if st.Status != "disabled" || !strings.Contains(st.Reason, "3 security events were waiting undelivered") {
		t.Fatalf("status = %+v, want disabled with the reason", st)
	}
	if p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(p.Sets) != 0 {
		t.Fatalf("a disabled stream served %d SETs", len(p.Sets))
	}
	// Enabled again, it receives again.
	ok(t, en.call(http.MethodPost, "/ssf/status", tokA, `{"stream_id":"`+s.StreamID+`","status":"enabled"}`), http.StatusOK, nil)
	ok(t, en.call(http.MethodPost, "/ssf/verify", tokA, `{"stream_id":"`+s.StreamID+`","state":"again"}`), http.StatusNoContent, nil)
	if p := en.poll(t, tokA, s.StreamID, `{"returnImmediately":true}`); len(p.Sets) != 2 { // stream-updated and the verification
		t.Fatalf("after enabling, %d SETs, want 2", len(p.Sets))
	}
}
