package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/ssf"
)

// newStream is a push stream of client with every field set.
func newStream(t *testing.T, client string, created time.Time) ssf.Stream {
	t.Helper()
	return ssf.Stream{ID: random(t, "stream-"), ClientID: client, Method: ssf.MethodPush,
		EndpointURL: "https://receiver.example/" + client, AuthorizationSealed: []byte{0, 1, 2, 0xff}, DefaultSubjects: ssf.SubjectsNone,
		EventsRequested: []string{ssf.EventSessionRevoked, ssf.EventCredentialChange, "urn:example:unsupported"},
		Description:     "SIEM feed", Status: ssf.StatusEnabled, CreatedAt: created, UpdatedAt: created.Add(time.Second)}
}

func createStream(t *testing.T, s Stores, st ssf.Stream) ssf.Stream {
	t.Helper()
	must(t, "CreateStream", s.Streams.CreateStream(t.Context(), st))
	return st
}

// sameStream compares every field; times as instants, an empty event list as any
// empty list.
func sameStream(t *testing.T, got, want ssf.Stream) {
	t.Helper()
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(got.EventsRequested) == 0 && len(want.EventsRequested) == 0 {
		got.EventsRequested, want.EventsRequested = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stream:\n got %+v\nwant %+v", got, want)
	}
}

func streamIDs(ss []ssf.Stream) []string {
	out := make([]string, len(ss))
	for i, st := range ss {
		out[i] = st.ID
	}
	return out
}

// stored checks that the store holds exactly want under its id.
func stored(t *testing.T, s Stores, want ssf.Stream) {
	t.Helper()
	got, err := s.Streams.Stream(t.Context(), want.ClientID, want.ID)
	must(t, "Stream", err)
	sameStream(t, got, want)
	got, err = s.Streams.StreamByID(t.Context(), want.ID)
	must(t, "StreamByID", err)
	sameStream(t, got, want)
}

func testStreamRoundTrip(t *testing.T, s Stores) {
	push := newStream(t, ClientA, base.In(elsewhere))
	push.Status, push.StatusReason = ssf.StatusPaused, "maintenance window"
	poll := ssf.Stream{ID: random(t, "stream-"), ClientID: ClientA, Method: ssf.MethodPoll, DefaultSubjects: ssf.SubjectsAll, EventsRequested: []string{},
		Status: ssf.StatusDisabled, CreatedAt: base.Add(time.Microsecond), UpdatedAt: base.Add(time.Microsecond)}
	for _, st := range []ssf.Stream{push, poll} {
		createStream(t, s, st)
	}
	for _, st := range []ssf.Stream{push, poll} {
		stored(t, s, st)
	}
}

func testStreamNotFound(t *testing.T, s Stores) {
	ctx := t.Context()
	st := createStream(t, s, newStream(t, ClientA, base))
	_, err := s.Streams.Stream(ctx, ClientA, "stream-unknown")
	wantNotFound(t, "Stream(unknown)", err)
	_, err = s.Streams.StreamByID(ctx, "stream-unknown")
	wantNotFound(t, "StreamByID(unknown)", err)
	missing := newStream(t, ClientA, base)
	wantNotFound(t, "UpdateStream(unknown)", s.Streams.UpdateStream(ctx, missing))
	_, err = s.Streams.StreamByID(ctx, missing.ID)
	wantNotFound(t, "StreamByID after UpdateStream(unknown)", err) // no upsert
	wantNotFound(t, "DeleteStream(unknown)", s.Streams.DeleteStream(ctx, ClientA, "stream-unknown"))
	stored(t, s, st)
}

// A stream is its receiver's alone: to another client it does not exist.
func testStreamOtherClient(t *testing.T, s Stores) {
	ctx := t.Context()
	st := createStream(t, s, newStream(t, ClientA, base))
	_, err := s.Streams.Stream(ctx, ClientB, st.ID)
	wantNotFound(t, "Stream(other client)", err)

	hijack := st
	hijack.ClientID, hijack.EndpointURL, hijack.Status = ClientB, "https://attacker.example/", ssf.StatusDisabled
	wantNotFound(t, "UpdateStream(other client)", s.Streams.UpdateStream(ctx, hijack))
	wantNotFound(t, "DeleteStream(other client)", s.Streams.DeleteStream(ctx, ClientB, st.ID))
	list, err := s.Streams.Streams(ctx, ClientB)
	must(t, "Streams(other client)", err)
	if len(list) != 0 {
		t.Errorf("Streams(%s) = %v, want none", ClientB, streamIDs(list))
	}
	stored(t, s, st)
}

func testStreamList(t *testing.T, s Stores) {
	ctx := t.Context()
	a2 := createStream(t, s, newStream(t, ClientA, base.Add(time.Second)))
	a1 := createStream(t, s, newStream(t, ClientA, base.In(elsewhere)))
	a3 := createStream(t, s, newStream(t, ClientA, base.Add(2*time.Second)))
	b1 := createStream(t, s, newStream(t, ClientB, base.Add(-time.Hour)))

	got, err := s.Streams.Streams(ctx, ClientA)
	must(t, "Streams", err)
	if g, w := streamIDs(got), streamIDs([]ssf.Stream{a1, a2, a3}); !slices.Equal(g, w) {
		t.Fatalf("Streams(%s) = %v, want oldest first %v", ClientA, g, w)
	}
	for i, want := range []ssf.Stream{a1, a2, a3} {
		sameStream(t, got[i], want)
	}
	got, err = s.Streams.Streams(ctx, ClientB)
	must(t, "Streams", err)
	if g := streamIDs(got); !slices.Equal(g, []string{b1.ID}) {
		t.Errorf("Streams(%s) = %v, want [%s]", ClientB, g, b1.ID)
	}
	got, err = s.Streams.Streams(ctx, "client-unknown")
	must(t, "Streams(unknown client)", err)
	if len(got) != 0 {
		t.Errorf("Streams(unknown client) = %v, want none", streamIDs(got))
	}
}

func testStreamUpdate(t *testing.T, s Stores) {
	st := createStream(t, s, newStream(t, ClientA, base))
	bystander := createStream(t, s, newStream(t, ClientA, base))
	up := st
	up.EndpointURL, up.AuthorizationSealed, up.LegacyAuthorization = "https://receiver.example/v2", []byte("rotated"), "Bearer legacy"
	up.DefaultSubjects = ssf.SubjectsAll
	up.EventsRequested = []string{ssf.EventAccountDisabled}
	up.Description, up.Status, up.StatusReason = "", ssf.StatusPaused, "receiver asked"
	up.UpdatedAt = base.Add(time.Hour).In(elsewhere)
	must(t, "UpdateStream", s.Streams.UpdateStream(t.Context(), up))
	stored(t, s, up)

	// Every mutable field can be emptied again.
	up.EndpointURL, up.AuthorizationSealed, up.LegacyAuthorization, up.EventsRequested = "", nil, "", []string{}
	up.Status, up.StatusReason, up.UpdatedAt = ssf.StatusEnabled, "", base.Add(2*time.Hour)
	must(t, "UpdateStream", s.Streams.UpdateStream(t.Context(), up))
	stored(t, s, up)
	stored(t, s, bystander)
}

func testStreamDelete(t *testing.T, s Stores) {
	ctx := t.Context()
	st := createStream(t, s, newStream(t, ClientA, base))
	keep := createStream(t, s, newStream(t, ClientA, base.Add(time.Second)))
	must(t, "DeleteStream", s.Streams.DeleteStream(ctx, ClientA, st.ID))
	_, err := s.Streams.Stream(ctx, ClientA, st.ID)
	wantNotFound(t, "Stream(deleted)", err)
	_, err = s.Streams.StreamByID(ctx, st.ID)
	wantNotFound(t, "StreamByID(deleted)", err)
	wantNotFound(t, "DeleteStream twice", s.Streams.DeleteStream(ctx, ClientA, st.ID))
	wantNotFound(t, "UpdateStream(deleted)", s.Streams.UpdateStream(ctx, st))
	list, err := s.Streams.Streams(ctx, ClientA)
	must(t, "Streams", err)
	if g := streamIDs(list); !slices.Equal(g, []string{keep.ID}) {
		t.Errorf("Streams after delete = %v, want [%s]", g, keep.ID)
	}
	stored(t, s, keep)
}

func testStreamReceiving(t *testing.T, s Stores) {
	ctx := t.Context()
	var want []ssf.Stream
	for _, c := range []struct{ client, status string }{
		{ClientA, ssf.StatusEnabled}, {ClientA, ssf.StatusPaused}, {ClientA, ssf.StatusDisabled},
		{ClientB, ssf.StatusEnabled}, {ClientB, ssf.StatusDisabled},
	} {
		st := newStream(t, c.client, base)
		st.Status = c.status
		createStream(t, s, st)
		if c.status != ssf.StatusDisabled {
			want = append(want, st) // paused streams hold their events, so they receive
		}
	}
	receiving := func() []ssf.Stream {
		t.Helper()
		got, err := s.Streams.Receiving(ctx)
		must(t, "Receiving", err)
		return byID(got, func(st ssf.Stream) string { return st.ID })
	}
	id := func(st ssf.Stream) string { return st.ID }
	got, want := receiving(), byID(want, id)
	if g, w := streamIDs(got), streamIDs(want); !slices.Equal(g, w) {
		t.Fatalf("Receiving = %v, want %v", g, w)
	}
	for i := range got {
		sameStream(t, got[i], want[i])
	}

	off := want[0]
	off.Status, off.UpdatedAt = ssf.StatusDisabled, base.Add(time.Minute)
	must(t, "UpdateStream(disable)", s.Streams.UpdateStream(ctx, off))
	if g, w := streamIDs(receiving()), streamIDs(want[1:]); !slices.Equal(g, w) {
		t.Errorf("Receiving after disabling %s = %v, want %v", off.ID, g, w)
	}
}

func testStreamLegacyAuthorizations(t *testing.T, s Stores) {
	ctx := t.Context()
	sealed := createStream(t, s, newStream(t, ClientA, base))
	legacy := newStream(t, ClientB, base)
	legacy.AuthorizationSealed, legacy.LegacyAuthorization = nil, "Bearer from-before-00018"
	createStream(t, s, legacy)
	got, err := s.Streams.LegacyAuthorizations(ctx)
	must(t, "LegacyAuthorizations", err)
	if g := streamIDs(got); !slices.Equal(g, []string{legacy.ID}) {
		t.Fatalf("LegacyAuthorizations = %v, want [%s]", g, legacy.ID)
	}
	sameStream(t, got[0], legacy)
	legacy.LegacyAuthorization, legacy.AuthorizationSealed = "", []byte("sealed now")
	must(t, "UpdateStream", s.Streams.UpdateStream(ctx, legacy))
	got, err = s.Streams.LegacyAuthorizations(ctx)
	must(t, "LegacyAuthorizations", err)
	if len(got) != 0 {
		t.Fatalf("after sealing: %v", streamIDs(got))
	}
	stored(t, s, legacy)
	stored(t, s, sealed)
}

func testStreamSubjects(t *testing.T, s Stores) {
	ctx := t.Context()
	a := createStream(t, s, newStream(t, ClientA, base))
	b := createStream(t, s, newStream(t, ClientB, base))
	must(t, "AddSubject", s.Streams.AddSubject(ctx, a.ID, "user-1", base))
	must(t, "AddSubject twice", s.Streams.AddSubject(ctx, a.ID, "user-1", base.Add(time.Second)))
	must(t, "AddSubject", s.Streams.AddSubject(ctx, a.ID, "user-2", base))
	must(t, "AddSubject", s.Streams.AddSubject(ctx, b.ID, "user-1", base))
	count := func(id string, want int64) {
		t.Helper()
		n, err := s.Streams.CountSubjects(ctx, id)
		must(t, "CountSubjects", err)
		if n != want {
			t.Errorf("CountSubjects(%s) = %d, want %d", id, n, want)
		}
	}
	of := func(sub string, want ...string) {
		t.Helper()
		ids, err := s.Streams.StreamsOfSubject(ctx, sub)
		must(t, "StreamsOfSubject", err)
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) && !(len(ids) == 0 && len(want) == 0) {
			t.Errorf("StreamsOfSubject(%s) = %v, want %v", sub, ids, want)
		}
	}
	count(a.ID, 2)
	count(b.ID, 1)
	of("user-1", a.ID, b.ID)
	of("user-2", a.ID)
	of("user-3")
	must(t, "RemoveSubject", s.Streams.RemoveSubject(ctx, a.ID, "user-1"))
	must(t, "RemoveSubject absent", s.Streams.RemoveSubject(ctx, a.ID, "user-1"))
	of("user-1", b.ID)
	count(a.ID, 1)
	// Deleting a stream deletes its subjects.
	must(t, "DeleteStream", s.Streams.DeleteStream(ctx, ClientB, b.ID))
	of("user-1")
	count(b.ID, 0)
}
