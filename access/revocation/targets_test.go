package revocation_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// The fakes below are the revocation service's collaborators as function-free maps and
// logs: the database-backed stores have their own conformance suite (access/sqlstore/
// storetest); these tests isolate what each selector does and when it is published.

// world is the state the fakes share, and the log of what they were asked to do.
type world struct {
	mu        sync.Mutex
	users     map[string]identity.User
	machines  map[string]bool
	clients   map[string]access.Client
	sessions  map[string]identity.LoginSession // live ones
	tokens    map[string]string                // token -> request id
	calls     []string                         // "grants.subject:alice", "signals:sid-1", ...
	records   []revocation.Record
	audits    []string
	failOn    string // a call that fails
	published []revocation.Event
}

func newWorld() *world {
	return &world{
		users:    map[string]identity.User{"alice": {ID: "alice", Status: identity.StatusActive}, "bob": {ID: "bob", Status: identity.StatusActive}},
		machines: map[string]bool{"ci": true},
		clients:  map[string]access.Client{"web": {ID: "web", BackchannelLogoutURI: "https://rp.example/bcl"}},
		sessions: map[string]identity.LoginSession{
			"sid-1": {ID: "sid-1", UserID: "alice", DeviceID: "AAAAAAAAAAAAAAAAAAAAAA"},
			"sid-2": {ID: "sid-2", UserID: "alice", DeviceID: "BBBBBBBBBBBBBBBBBBBBBB"},
			"sid-3": {ID: "sid-3", UserID: "bob", DeviceID: "AAAAAAAAAAAAAAAAAAAAAA"},
		},
		tokens: map[string]string{"tok-live": "req-1"},
	}
}

func (w *world) call(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, name)
	if w.failOn != "" && strings.HasPrefix(name, w.failOn) {
		return errors.New("injected failure at " + name)
	}
	return nil
}

// Sessions.
type fakeSessions struct{ w *world }

func (s fakeSessions) ByID(_ context.Context, id string) (identity.LoginSession, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if ls, ok := s.w.sessions[id]; ok {
		return ls, nil
	}
	return identity.LoginSession{}, identity.ErrNotFound
}
func (s fakeSessions) End(_ context.Context, id string) error { return s.w.call("sessions.end:" + id) }
func (s fakeSessions) EndAllOf(_ context.Context, user string) ([]string, error) {
	var sids []string
	for id, ls := range s.w.sessions {
		if ls.UserID == user {
			sids = append(sids, id)
		}
	}
	sort.Strings(sids)
	return sids, s.w.call("sessions.endall:" + user)
}
func (s fakeSessions) EndAllFrom(_ context.Context, device string) ([]identity.LoginSession, error) {
	var out []identity.LoginSession
	for _, ls := range s.w.sessions {
		if ls.DeviceID == device {
			out = append(out, ls)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, s.w.call("sessions.endfrom:" + device)
}

// Subjects.
type fakeSubjects struct{ w *world }

func (s fakeSubjects) UserByID(_ context.Context, id string) (identity.User, error) {
	if u, ok := s.w.users[id]; ok {
		return u, nil
	}
	return identity.User{}, identity.ErrNotFound
}
func (s fakeSubjects) MachineByID(_ context.Context, id string) (identity.MachineIdentity, error) {
	if s.w.machines[id] {
		return identity.MachineIdentity{ID: id}, nil
	}
	return identity.MachineIdentity{}, identity.ErrNotFound
}

// Clients.
type fakeClients struct{ w *world }

func (c fakeClients) Client(_ context.Context, id string) (access.Client, error) {
	if cl, ok := c.w.clients[id]; ok {
		return cl, nil
	}
	return access.Client{}, identity.ErrNotFound
}

// Grants.
type fakeGrants struct{ w *world }

func (g fakeGrants) RevokeBySessionID(_ context.Context, sid string) (int64, error) {
	return 2, g.w.call("grants.session:" + sid)
}
func (g fakeGrants) RevokeByClient(_ context.Context, id string) (int64, error) {
	return 5, g.w.call("grants.client:" + id)
}
func (g fakeGrants) RevokeBySubject(_ context.Context, sub string) (int64, error) {
	return 3, g.w.call("grants.subject:" + sub)
}
func (g fakeGrants) RevokeAccessToken(_ context.Context, req string) error {
	return g.w.call("grants.access:" + req)
}
func (g fakeGrants) RevokeRefreshToken(_ context.Context, req string) error {
	return g.w.call("grants.refresh:" + req)
}

// Lookup.
type fakeLookup struct{ w *world }

func (l fakeLookup) IntrospectToken(_ context.Context, token string, _ fosite.TokenUse, _ fosite.Session, _ ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	if req, ok := l.w.tokens[token]; ok {
		r := fosite.NewAccessRequest(access.NewSession("alice", "", "sid-1"))
		r.ID = req
		return fosite.AccessToken, r, nil
	}
	return "", nil, fosite.ErrInactiveToken
}

// Store (the durable record) and Log (receipts).
type fakeStore struct{ w *world }

func (s fakeStore) CreateRevocation(_ context.Context, r revocation.Record) error {
	if err := s.w.call("store.create"); err != nil {
		return err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for _, prev := range s.w.records {
		if r.IdempotencyKey != "" && prev.Actor == r.Actor && prev.IdempotencyKey == r.IdempotencyKey {
			return identity.ErrConflict
		}
	}
	s.w.records = append(s.w.records, r)
	return nil
}
func (s fakeStore) RevocationByID(_ context.Context, id string) (revocation.Record, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for _, r := range s.w.records {
		if r.ID == id {
			return r, nil
		}
	}
	return revocation.Record{}, identity.ErrNotFound
}
func (s fakeStore) RevocationByKey(_ context.Context, actor, key string) (revocation.Record, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for _, r := range s.w.records {
		if r.Actor == actor && r.IdempotencyKey == key {
			return r, nil
		}
	}
	return revocation.Record{}, identity.ErrNotFound
}

type fakeLog struct{ w *world }

func (fakeLog) EventsSince(context.Context, time.Time) ([]revocation.LoggedEvent, error) {
	return nil, nil
}
func (l fakeLog) RecordApplied(_ context.Context, id, node, via string, _ time.Time) error {
	return l.w.call("log.applied:" + via)
}
func (l fakeLog) RecordFanout(context.Context, string, revocation.Acks) error {
	return l.w.call("log.fanout")
}
func (fakeLog) Applications(context.Context, string) ([]revocation.NodeApplication, error) {
	return nil, nil
}

// Tx runs fn and, if it succeeds, the after-commit hooks, like identity/sqlstore.DB:
// a failed transaction publishes nothing.
type fakeTx struct{ w *world }

type hooksKey struct{}

func (t fakeTx) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(hooksKey{}).(*[]func(context.Context)); ok {
		return fn(ctx)
	}
	hooks := &[]func(context.Context){}
	if err := fn(context.WithValue(ctx, hooksKey{}, hooks)); err != nil {
		t.w.call("tx.rollback")
		return err
	}
	t.w.call("tx.commit")
	for _, h := range *hooks {
		h(ctx)
	}
	return nil
}
func (fakeTx) Lock(context.Context, string) error { return nil }
func (fakeTx) AfterCommit(ctx context.Context, fn func(context.Context)) {
	if h, ok := ctx.Value(hooksKey{}).(*[]func(context.Context)); ok {
		*h = append(*h, fn)
		return
	}
	fn(ctx)
}

// Bus records publications.
type fakeBus struct{ w *world }

func (b fakeBus) Publish(_ context.Context, ev revocation.Event) (revocation.Acks, error) {
	b.w.mu.Lock()
	b.w.published = append(b.w.published, ev)
	b.w.mu.Unlock()
	return revocation.Acks{Acknowledged: []string{"node-2"}, Missing: []string{}}, b.w.call("bus.publish")
}
func (fakeBus) Fresh() bool { return true }

type fakeAudit struct{ w *world }

func (a fakeAudit) Record(_ context.Context, kind, actor, subject string, _ map[string]any) error {
	a.w.mu.Lock()
	a.w.audits = append(a.w.audits, kind+" "+actor+" "+subject)
	a.w.mu.Unlock()
	return a.w.call("audit")
}

type fakeOutbox struct {
	outbox.Store
	w *world
}

func (o fakeOutbox) Enqueue(_ context.Context, m outbox.Message) error {
	return o.w.call("outbox:" + m.Target)
}

type fakeParticipants struct{}

func (fakeParticipants) ClientsOfSession(context.Context, string) ([]string, error) {
	return []string{"web"}, nil
}

type fakeSignals struct{ w *world }

func (s fakeSignals) SessionRevoked(_ context.Context, rev revocation.Record, sid, sub string) error {
	return s.w.call("signals:" + sid + ":" + sub)
}

func newService(t *testing.T, w *world) *revocation.Service {
	t.Helper()
	s, err := revocation.NewService(revocation.Deps{Store: fakeStore{w}, Grants: fakeGrants{w}, Lookup: fakeLookup{w},
		Sessions: fakeSessions{w}, Subjects: fakeSubjects{w}, Clients: fakeClients{w}, Tx: fakeTx{w},
		Fanout: &revocation.Fanout{Node: "node-1", Bus: fakeBus{w}, Log: fakeLog{w}}, Audit: fakeAudit{w},
		Outbox: fakeOutbox{w: w}, Participants: fakeParticipants{}, Signals: fakeSignals{w}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRevoke_Targets(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sel          revocation.Selector
		wantErr      string // a *identity.ValidationError field
		wantSessions int64
		wantTokens   int64
		wantCalls    []string // in order, within the transaction
		wantEvent    revocation.Event
	}{
		{name: "token", sel: revocation.Selector{Type: "token", Value: "tok-live"}, wantTokens: 1,
			wantCalls: []string{"grants.access:req-1", "grants.refresh:req-1"}, wantEvent: revocation.Event{RequestIDs: []string{"req-1"}}},
		{name: "unknown token matches nothing", sel: revocation.Selector{Type: "token", Value: "tok-gone"}},
		{name: "session", sel: revocation.Selector{Type: "session", Value: "sid-1"}, wantSessions: 1, wantTokens: 2,
			wantCalls: []string{"sessions.end:sid-1", "signals:sid-1:alice", "outbox:https://rp.example/bcl", "grants.session:sid-1"},
			wantEvent: revocation.Event{SIDs: []string{"sid-1"}}},
		{name: "unknown session", sel: revocation.Selector{Type: "session", Value: "sid-9"}, wantErr: "selector.value"},
		{name: "user", sel: revocation.Selector{Type: "subject", Value: "alice"}, wantSessions: 2, wantTokens: 3,
			wantCalls: []string{"sessions.endall:alice", "signals:sid-1:alice", "outbox:https://rp.example/bcl",
				"signals:sid-2:alice", "outbox:https://rp.example/bcl", "grants.subject:alice"},
			wantEvent: revocation.Event{Subject: "alice", SIDs: []string{"sid-1", "sid-2"}}},
		{name: "machine identity", sel: revocation.Selector{Type: "subject", Value: "ci"}, wantTokens: 3,
			wantCalls: []string{"sessions.endall:ci", "grants.subject:ci"}, wantEvent: revocation.Event{Subject: "ci"}},
		{name: "unknown subject", sel: revocation.Selector{Type: "subject", Value: "zed"}, wantErr: "selector.value"},
		{name: "client", sel: revocation.Selector{Type: "client", Value: "web"}, wantTokens: 5,
			wantCalls: []string{"grants.client:web"}, wantEvent: revocation.Event{ClientID: "web"}},
		{name: "unknown client", sel: revocation.Selector{Type: "client", Value: "nope"}, wantErr: "selector.value"},
		{name: "device", sel: revocation.Selector{Type: "device", Value: "AAAAAAAAAAAAAAAAAAAAAA"}, wantSessions: 2, wantTokens: 4,
			wantCalls: []string{"sessions.endfrom:AAAAAAAAAAAAAAAAAAAAAA", "signals:sid-1:alice", "outbox:https://rp.example/bcl",
				"grants.session:sid-1", "signals:sid-3:bob", "outbox:https://rp.example/bcl", "grants.session:sid-3"},
			wantEvent: revocation.Event{SIDs: []string{"sid-1", "sid-3"}}},
		{name: "malformed device id", sel: revocation.Selector{Type: "device", Value: "not-a-device"}, wantErr: "selector.value"},
		{name: "unknown selector type", sel: revocation.Selector{Type: "group", Value: "x"}, wantErr: "selector.type"},
		{name: "empty value", sel: revocation.Selector{Type: "subject", Value: " "}, wantErr: "selector.value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			rec, replayed, err := newService(t, w).Revoke(context.Background(), "soar", "", tc.sel, "incident 42")
			if tc.wantErr != "" {
				var ve *identity.ValidationError
				if !errors.As(err, &ve) || ve.Field != tc.wantErr {
					t.Fatalf("err = %v, want a validation error on %s", err, tc.wantErr)
				}
				if len(w.calls) != 0 || len(w.published) != 0 {
					t.Fatalf("a refused revocation did something: %v, published %v", w.calls, w.published)
				}
				return
			}
			if err != nil || replayed {
				t.Fatalf("Revoke = %v, replayed %v", err, replayed)
			}
			if rec.Sessions != tc.wantSessions || rec.Tokens != tc.wantTokens {
				t.Fatalf("counts = %d sessions, %d tokens; want %d, %d", rec.Sessions, rec.Tokens, tc.wantSessions, tc.wantTokens)
			}
			inTx := w.calls[:slices.Index(w.calls, "store.create")]
			if !slices.Equal(inTx, tc.wantCalls) {
				t.Fatalf("calls in the transaction = %v\nwant %v", inTx, tc.wantCalls)
			}
			// Recorded, audited, committed, then (and only then) published and receipted.
			rest := w.calls[len(inTx):]
			if !slices.Equal(rest, []string{"store.create", "audit", "tx.commit", "bus.publish", "log.applied:origin", "log.fanout"}) {
				t.Fatalf("after the targets: %v", rest)
			}
			ev := w.published[0]
			if ev.ID != rec.ID || !ev.Durable || ev.Subject != tc.wantEvent.Subject || ev.ClientID != tc.wantEvent.ClientID ||
				!slices.Equal(ev.SIDs, tc.wantEvent.SIDs) || !slices.Equal(ev.RequestIDs, tc.wantEvent.RequestIDs) {
				t.Fatalf("published %+v, want %+v", ev, tc.wantEvent)
			}
			if rec.Fanout == nil || !slices.Equal(rec.Fanout.Acknowledged, []string{"node-2"}) {
				t.Fatalf("receipt = %+v", rec.Fanout)
			}
			if len(w.audits) != 1 || !strings.HasPrefix(w.audits[0], "revocation soar "+tc.sel.Type+":") {
				t.Fatalf("audit = %v", w.audits)
			}
			if tc.sel.Type == "token" && (strings.Contains(w.records[0].Selector.Value, "tok-") || len(w.records[0].Selector.Value) != 64) {
				t.Fatalf("the stored selector keeps the token: %q", w.records[0].Selector.Value)
			}
		})
	}
}

// A failure anywhere in the transaction leaves nothing published and nothing answered
// as done: the revocation is all or nothing.
func TestRevoke_FailureRollsBackAndPublishesNothing(t *testing.T) {
	for _, fail := range []string{"sessions.endall", "signals", "outbox", "grants.subject", "store.create", "audit"} {
		t.Run(fail, func(t *testing.T) {
			w := newWorld()
			w.failOn = fail
			_, _, err := newService(t, w).Revoke(context.Background(), "soar", "", revocation.Selector{Type: "subject", Value: "alice"}, "x")
			if err == nil {
				t.Fatal("Revoke succeeded")
			}
			if len(w.published) != 0 || !slices.Contains(w.calls, "tx.rollback") || slices.Contains(w.calls, "tx.commit") {
				t.Fatalf("calls %v, published %v", w.calls, w.published)
			}
		})
	}
}

// A publication that fails after the commit is reported, but the revocation stands
// (other nodes replay it from the durable log).
func TestRevoke_PublishFailureIsReported(t *testing.T) {
	w := newWorld()
	w.failOn = "bus.publish"
	rec, _, err := newService(t, w).Revoke(context.Background(), "soar", "", revocation.Selector{Type: "client", Value: "web"}, "x")
	if err == nil || !strings.Contains(err.Error(), "durable log") || rec.ID == "" || len(w.records) != 1 {
		t.Fatalf("Revoke = %+v, %v", rec, err)
	}
}

func TestRevoke_IdempotencyKey(t *testing.T) {
	w := newWorld()
	s := newService(t, w)
	sel := revocation.Selector{Type: "client", Value: "web"}
	first, replayed, err := s.Revoke(context.Background(), "soar", "k1", sel, "x")
	if err != nil || replayed {
		t.Fatal(err)
	}
	again, replayed, err := s.Revoke(context.Background(), "soar", "k1", sel, "x")
	if err != nil || !replayed || again.ID != first.ID || len(w.published) != 1 {
		t.Fatalf("replay = %+v, %v, %v; published %d", again, replayed, err, len(w.published))
	}
	// The key reused for another request: refused, nothing done (issue 9, M5).
	for _, other := range []struct {
		sel    revocation.Selector
		reason string
	}{{revocation.Selector{Type: "subject", Value: "alice"}, "x"}, {sel, "another reason"}} {
		if _, _, err := s.Revoke(context.Background(), "soar", "k1", other.sel, other.reason); !errors.Is(err, revocation.ErrKeyReused) {
			t.Fatalf("key reused for %+v: %v, want ErrKeyReused", other, err)
		}
	}
	if len(w.published) != 1 || len(w.records) != 1 {
		t.Fatalf("a refused reuse did something: %d published, %d records", len(w.published), len(w.records))
	}
	// Another actor's key is its own.
	if other, replayed, err := s.Revoke(context.Background(), "other", "k1", sel, "x"); err != nil || replayed || other.ID == first.ID {
		t.Fatalf("another actor's key = %+v, %v, %v", other, replayed, err)
	}
}

// The service observes the directory: a status change out of active revokes in the
// change's transaction, with the change's actor and reason; reactivation revokes nothing.
func TestStatusChanged(t *testing.T) {
	w := newWorld()
	s := newService(t, w)
	ch := &identity.Change{Actor: "weft-cli", Reason: "offboarding"}
	err := fakeTx{w}.InTx(identity.WithChange(context.Background(), ch), func(ctx context.Context) error {
		return s.StatusChanged(ctx, identity.User{ID: "alice", Status: identity.StatusSuspended}, identity.StatusActive)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.records) != 1 || ch.Txn != w.records[0].ID {
		t.Fatalf("records %+v, txn %q", w.records, ch.Txn)
	}
	r := w.records[0]
	if r.Actor != "weft-cli" || r.Reason != "offboarding" || !r.Suspend || r.Selector != (revocation.Selector{Type: "subject", Value: "alice"}) || r.Sessions != 2 {
		t.Fatalf("record = %+v", r)
	}
	if len(w.published) != 1 || w.published[0].Subject != "alice" {
		t.Fatalf("published %+v", w.published)
	}

	// Reactivation: nothing.
	w2 := newWorld()
	if err := newService(t, w2).StatusChanged(context.Background(), identity.User{ID: "alice", Status: identity.StatusActive}, identity.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if len(w2.calls) != 0 {
		t.Fatalf("reactivation did %v", w2.calls)
	}

	// Without a Change the revocation still happens, by "system".
	w3 := newWorld()
	if err := newService(t, w3).StatusChanged(context.Background(), identity.User{ID: "bob", Status: identity.StatusDeprovisioned}, identity.StatusActive); err != nil {
		t.Fatal(err)
	}
	if len(w3.records) != 1 || w3.records[0].Actor != revocation.SystemActor || w3.records[0].Reason == "" {
		t.Fatalf("records = %+v", w3.records)
	}
}

// noStatusChange fails the test if Suspend changes a status it should not.
type noStatusChange struct{ t *testing.T }

func (n noStatusChange) SetStatus(context.Context, string, identity.Status) (identity.User, bool, error) {
	n.t.Fatal("SetStatus called for a user who is not active")
	return identity.User{}, false, nil
}

// Suspending a user who is suspended already revokes again (cheap, and it catches
// anything left live), and the receipt still says it was a suspension.
func TestSuspend_AlreadySuspended(t *testing.T) {
	w := newWorld()
	w.users["alice"] = identity.User{ID: "alice", Status: identity.StatusSuspended}
	rec, replayed, err := newService(t, w).Suspend(context.Background(), noStatusChange{t}, "soar", "", "alice", "again")
	if err != nil || replayed {
		t.Fatalf("Suspend = %v, replayed %v", err, replayed)
	}
	if !rec.Suspend || rec.Sessions != 2 || len(w.records) != 1 || !w.records[0].Suspend {
		t.Fatalf("record = %+v", rec)
	}
	// Not a user: refused, nothing done.
	w2 := newWorld()
	if _, _, err := newService(t, w2).Suspend(context.Background(), noStatusChange{t}, "soar", "", "ci", "x"); err == nil || len(w2.calls) != 0 {
		t.Fatalf("suspending a machine identity: %v, calls %v", err, w2.calls)
	}
}

// A password set or reset is containment: the user's sessions end and tokens go, with
// the change's actor and reason; a user with nothing live gets no revocation.
func TestPasswordChanged(t *testing.T) {
	w := newWorld()
	ch := &identity.Change{Actor: "admin-client", Reason: "password reset through the admin API"}
	err := fakeTx{w}.InTx(identity.WithChange(context.Background(), ch), func(ctx context.Context) error {
		return newService(t, w).PasswordChanged(ctx, identity.User{ID: "alice", Status: identity.StatusActive})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.records) != 1 || ch.Txn != w.records[0].ID {
		t.Fatalf("records %+v, txn %q", w.records, ch.Txn)
	}
	if r := w.records[0]; r.Actor != "admin-client" || r.Suspend || r.Sessions != 2 || r.Tokens != 3 ||
		!slices.Contains(w.calls, "signals:sid-1:alice") || len(w.published) != 1 {
		t.Fatalf("record %+v, calls %v", r, w.calls)
	}

	// Nothing live: the sessions and grants are checked, nothing is recorded or sent.
	w2 := newWorld()
	w2.sessions = map[string]identity.LoginSession{}
	grantsNone := &noGrants{fakeGrants{w2}}
	s, err := revocation.NewService(revocation.Deps{Store: fakeStore{w2}, Grants: grantsNone, Lookup: fakeLookup{w2},
		Sessions: fakeSessions{w2}, Subjects: fakeSubjects{w2}, Clients: fakeClients{w2}, Tx: fakeTx{w2},
		Fanout: &revocation.Fanout{Node: "n", Bus: fakeBus{w2}, Log: fakeLog{w2}}, Audit: fakeAudit{w2},
		Outbox: fakeOutbox{w: w2}, Participants: fakeParticipants{}, Signals: fakeSignals{w2}})
	if err != nil {
		t.Fatal(err)
	}
	ch2 := &identity.Change{}
	if err := s.PasswordChanged(identity.WithChange(context.Background(), ch2), identity.User{ID: "bob", Status: identity.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if len(w2.records) != 0 || len(w2.audits) != 0 || len(w2.published) != 0 || ch2.Txn != "" {
		t.Fatalf("a user with nothing live got records %v, audits %v, published %v", w2.records, w2.audits, w2.published)
	}

	// A suspended user has nothing live: not even looked at.
	w3 := newWorld()
	if err := newService(t, w3).PasswordChanged(context.Background(), identity.User{ID: "alice", Status: identity.StatusSuspended}); err != nil || len(w3.calls) != 0 {
		t.Fatalf("%v, calls %v", err, w3.calls)
	}
}

// noGrants revokes nothing by subject (a user who holds no tokens).
type noGrants struct{ fakeGrants }

func (g *noGrants) RevokeBySubject(_ context.Context, sub string) (int64, error) {
	return 0, g.w.call("grants.subject:" + sub)
}
