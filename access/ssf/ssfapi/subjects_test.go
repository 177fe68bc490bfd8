package ssfapi

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func subjectOf(user string) string {
	return `{"format":"iss_sub","iss":"` + issuer + `","sub":"` + user + `"}`
}

// drain returns the SETs polled from the stream (acknowledging them) as event type
// and body, each with the user it is about.
// polled is one SET, read back.
type polled struct {
	typ, user string
	body      map[string]any
}

func (en *env) drain(t *testing.T, token, id string) []polled {
	t.Helper()
	p := en.poll(t, token, id, `{"returnImmediately":true}`)
	var out []polled
	var acks []string
	for jti, compact := range p.Sets {
		s := parseSET(t, compact)
		typ, body := s.event(t)
		user := ""
		if u, ok := s.SubID["user"].(map[string]any); ok {
			user, _ = u["sub"].(string)
		} else if s.SubID["format"] == "iss_sub" {
			user, _ = s.SubID["sub"].(string)
		}
		out = append(out, polled{typ, user, body})
		acks = append(acks, jti)
	}
	if len(acks) > 0 {
		en.poll(t, token, id, `{"returnImmediately":true,"maxEvents":0,"ack":["`+strings.Join(acks, `","`)+`"]}`)
	}
	return out
}

// revokeSession and suspend make the transmitter emit events as the revocation service
// and the directory do, with a SOAR's free-text reason.
func (en *env) revokeSession(t *testing.T, user, sid string) {
	t.Helper()
	if err := en.tr.SessionRevoked(context.Background(), revocation.Record{ID: "rev-" + sid, Reason: "incident 4711: " + user}, sid, user); err != nil {
		t.Fatal(err)
	}
}

func (en *env) suspend(t *testing.T, user string) {
	t.Helper()
	ctx := identity.WithChange(context.Background(), &identity.Change{Actor: "soar", Reason: user + " left"})
	if err := en.tr.StatusChanged(ctx, identity.User{ID: user, Status: identity.StatusSuspended}, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
}

// TestSSF_Subjects: a new stream has default subjects NONE and gets no events about a
// user it did not add; after add-subject it gets that user's events (and still no
// other user's), after remove-subject none again. A stream with ALL gets every user's
// events. Free-text reasons are left out unless the operator trusts the receiver
// (issue 9, L7).
func TestSSF_Subjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		none := en.create(t, tokA, pollStream("none", evSessionRevoked, evAccountDisabled))
		all := en.create(t, tokB, `{"delivery":{"method":"`+methodPoll+`"},"default_subjects":"ALL","events_requested":["`+
			evSessionRevoked+`","`+evAccountDisabled+`"]}`)
		if none.DefaultSubjects != "NONE" || all.DefaultSubjects != "ALL" {
			t.Fatalf("default subjects: new %q, asked ALL %q", none.DefaultSubjects, all.DefaultSubjects)
		}
		en.revokeSession(t, "alice", "sid-1")
		en.suspend(t, "bob")
		if got := en.drain(t, tokA, none.StreamID); len(got) != 0 {
			t.Fatalf("NONE stream got %+v", got)
		}
		got := en.drain(t, tokB, all.StreamID)
		if len(got) != 2 {
			t.Fatalf("ALL stream got %+v", got)
		}
		for _, ev := range got {
			if _, ok := ev.body["reason_admin"]; ok {
				t.Fatalf("reason sent to an untrusted receiver: %+v", ev)
			}
			if ev.body["initiating_entity"] == nil {
				t.Fatalf("event body lost more than the reason: %+v", ev)
			}
		}

		// Add alice: her events come, bob's do not.
		r := en.call(http.MethodPost, "/ssf/subjects:add", tokA, `{"stream_id":"`+none.StreamID+`","subject":`+subjectOf("alice")+`,"verified":true}`)
		if r.code != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("add subject: %s", r)
		}
		ok(t, en.call(http.MethodPost, "/ssf/subjects:add", tokA, `{"stream_id":"`+none.StreamID+`","subject":`+subjectOf("alice")+`}`), http.StatusOK, nil)
		en.revokeSession(t, "alice", "sid-2")
		en.suspend(t, "alice")
		en.revokeSession(t, "bob", "sid-3")
		en.suspend(t, "bob")
		got = en.drain(t, tokA, none.StreamID)
		if len(got) != 2 || got[0].user != "alice" || got[1].user != "alice" {
			t.Fatalf("after add-subject the NONE stream got %+v", got)
		}
		if n := len(en.drain(t, tokB, all.StreamID)); n != 4 {
			t.Fatalf("ALL stream got %d events, want 4", n)
		}

		// Remove alice: nothing again.
		r = en.call(http.MethodPost, "/ssf/subjects:remove", tokA, `{"stream_id":"`+none.StreamID+`","subject":`+subjectOf("alice")+`}`)
		if r.code != http.StatusNoContent {
			t.Fatalf("remove subject: %s", r)
		}
		en.revokeSession(t, "alice", "sid-4")
		if got := en.drain(t, tokA, none.StreamID); len(got) != 0 {
			t.Fatalf("after remove-subject the NONE stream got %+v", got)
		}

		// The operator trusts rcv-b with reasons: its events carry them, rcv-a's not.
		ok(t, en.call(http.MethodPost, "/ssf/subjects:add", tokA, `{"stream_id":"`+none.StreamID+`","subject":`+subjectOf("carol")+`}`), http.StatusOK, nil)
		en.drain(t, tokB, all.StreamID)
		en.tr.ReasonReceivers = []string{rcvB}
		en.revokeSession(t, "carol", "sid-5")
		en.suspend(t, "carol")
		for _, ev := range en.drain(t, tokB, all.StreamID) {
			reason, _ := ev.body["reason_admin"].(map[string]any)
			if reason["en"] != "incident 4711: carol" && reason["en"] != "carol left" {
				t.Fatalf("trusted receiver's event without its reason: %+v", ev)
			}
		}
		for _, ev := range en.drain(t, tokA, none.StreamID) {
			if _, ok := ev.body["reason_admin"]; ok || ev.user != "carol" {
				t.Fatalf("untrusted receiver's event: %+v", ev)
			}
		}

		// A stream can change between NONE and ALL.
		var s streamConfig
		ok(t, en.call(http.MethodPatch, "/ssf/stream", tokA, `{"stream_id":"`+none.StreamID+`","default_subjects":"ALL"}`), http.StatusOK, &s)
		if s.DefaultSubjects != "ALL" {
			t.Fatalf("patched %+v", s)
		}
		ok(t, en.call(http.MethodPut, "/ssf/stream", tokA, `{"stream_id":"`+none.StreamID+`","delivery":{"method":"`+methodPoll+`"}}`), http.StatusOK, &s)
		if s.DefaultSubjects != "ALL" {
			t.Fatalf("PUT without default_subjects changed it: %+v", s)
		}
	})
}

// TestSSF_SubjectsBadInput: malformed subject requests are 400 problems, another
// receiver's stream is the same 404 as a missing one, and nothing changes.
func TestSSF_SubjectsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		s := en.create(t, tokA, pollStream("subjects", evSessionRevoked))
		ok(t, en.call(http.MethodPost, "/ssf/subjects:add", tokA, `{"stream_id":"`+s.StreamID+`","subject":`+subjectOf("alice")+`}`), http.StatusOK, nil)
		snapshot := func() map[string][]string {
			return sqltest.Snapshot(t, en.db.SQL(), "ssf_streams", "ssf_stream_subjects", "outbox")
		}
		before := snapshot()
		id := s.StreamID
		for _, tc := range []struct{ name, path, token, body string }{
			{"no stream id", "add", tokA, `{"subject":` + subjectOf("bob") + `}`},
			{"no subject", "add", tokA, `{"stream_id":"` + id + `"}`},
			{"null subject", "add", tokA, `{"stream_id":"` + id + `","subject":null}`},
			{"subject a string", "add", tokA, `{"stream_id":"` + id + `","subject":"bob"}`},
			{"email format", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"email","email":"bob@example.com"}}`},
			{"opaque format", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"opaque","id":"bob"}}`},
			{"another issuer", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"https://evil.example","sub":"bob"}}`},
			{"empty sub", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"` + issuer + `","sub":""}}`},
			{"sub not a string", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"` + issuer + `","sub":7}}`},
			{"sub with a space", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"` + issuer + `","sub":"b ob"}}`},
			{"sub too long", "add", tokA, `{"stream_id":"` + id + `","subject":` + subjectOf(longSub()) + `}`},
			{"extra member", "add", tokA, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"` + issuer + `","sub":"bob","email":"x"}}`},
			{"unknown field", "add", tokA, `{"stream_id":"` + id + `","subject":` + subjectOf("bob") + `,"all":true}`},
			{"verified not a boolean", "add", tokA, `{"stream_id":"` + id + `","subject":` + subjectOf("bob") + `,"verified":"yes"}`},
			{"trailing data", "add", tokA, `{"stream_id":"` + id + `","subject":` + subjectOf("bob") + `}{}`},
			{"remove: bad subject", "remove", tokA, `{"stream_id":"` + id + `","subject":{"format":"email","email":"alice@example.com"}}`},
			{"remove: no stream id", "remove", tokA, `{"subject":` + subjectOf("alice") + `}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				problemOf(t, en.call(http.MethodPost, "/ssf/subjects:"+tc.path, tc.token, tc.body), http.StatusBadRequest)
			})
		}
		// Another receiver's stream and a missing one: the same 404.
		for _, path := range []string{"add", "remove"} {
			theirs := problemOf(t, en.call(http.MethodPost, "/ssf/subjects:"+path, tokB, `{"stream_id":"`+id+`","subject":`+subjectOf("alice")+`}`), http.StatusNotFound)
			missing := problemOf(t, en.call(http.MethodPost, "/ssf/subjects:"+path, tokB, `{"stream_id":"00000000-0000-4000-8000-000000000000","subject":`+subjectOf("alice")+`}`), http.StatusNotFound)
			if theirs.Detail != missing.Detail {
				t.Fatalf("another's stream %+v, a missing one %+v", theirs, missing)
			}
		}
		problemOf(t, en.call(http.MethodPost, "/ssf/subjects:add", "", `{"stream_id":"`+id+`","subject":`+subjectOf("bob")+`}`), http.StatusUnauthorized)
		problemOf(t, en.call(http.MethodPost, "/ssf/subjects:add", tokNoScope, `{"stream_id":"`+id+`","subject":`+subjectOf("bob")+`}`), http.StatusForbidden)
		// default_subjects must be ALL or NONE.
		problemOf(t, en.call(http.MethodPatch, "/ssf/stream", tokA, `{"stream_id":"`+id+`","default_subjects":"SOME"}`), http.StatusBadRequest)
		problemOf(t, en.call(http.MethodPost, "/ssf/stream", tokA, `{"delivery":{"method":"`+methodPoll+`"},"default_subjects":"all"}`), http.StatusBadRequest)
		if after := snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("bad requests changed the database:\nbefore %v\nafter  %v", before, after)
		}
	})
}

func longSub() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}
