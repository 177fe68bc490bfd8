package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func event(i int, subject string) analytics.Event {
	return analytics.Event{
		Signal: analytics.Signal{Subject: subject, SubjectKind: "user", ClientID: "c1", SessionID: fmt.Sprint("s", i),
			Action: "introspect", IP: "192.0.2.10", UserAgent: "curl/8", DeviceID: "d1", At: t0.Add(time.Duration(i) * time.Second),
			Location: analytics.Location{Country: "DE", Network: "AS64500"}},
		Risk: analytics.Risk{Score: 70, Level: analytics.LevelHigh, Reasons: []analytics.Reason{
			{Code: "impossible_travel", Message: "6385 km from US to DE in 10m0s: 38310 km/h."}}},
		Allowed:  i%2 == 0,
		Outcomes: []string{"impossible_travel"},
	}
}

// The recorder's contract on every backend: batches are written, read back whole, and
// filtered by subject and time.
func TestRecorder_Conformance(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			db := sqltest.Open(t, b)
			r, err := sqlstore.NewRecorder(db, sqlstore.Options{Batch: 10, FlushEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 25 {
				r.Record(event(i, []string{"alice", "bob"}[i%2]))
			}
			r.Close()
			st := r.Stats()
			if st.Recorded != 25 || st.Written != 25 || st.Batches != 3 || st.Dropped != 0 || st.Failed != 0 {
				t.Fatalf("stats %+v (last error %q)", st, r.LastError())
			}
			ctx := context.Background()
			alice, err := r.List(ctx, sqlstore.Filter{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if len(alice) != 13 {
				t.Fatalf("%d events of alice, want 13", len(alice))
			}
			got, want := alice[0].Event, event(24, "alice")
			if !got.At.Equal(want.At) || got.Subject != want.Subject || got.SubjectKind != "user" || got.ClientID != "c1" ||
				got.SessionID != "s24" || got.Action != "introspect" || got.IP != "192.0.2.10" || got.UserAgent != "curl/8" ||
				got.DeviceID != "d1" || got.Country != "DE" || got.Network != "AS64500" || got.Risk.Score != 70 ||
				got.Risk.Level != analytics.LevelHigh || !slices.Equal(got.Risk.Reasons, want.Risk.Reasons) || !got.Allowed ||
				!slices.Equal(got.Outcomes, want.Outcomes) {
				t.Fatalf("newest event of alice\n %+v, want\n %+v", got, want)
			}
			window, err := r.List(ctx, sqlstore.Filter{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second), Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(window) != 5 || !window[0].At.Equal(t0.Add(19*time.Second)) || !window[4].At.Equal(t0.Add(15*time.Second)) {
				t.Fatalf("window %+v", window)
			}
			// After Close, events are dropped, not written and not blocking.
			r.Record(event(99, "alice"))
			if st := r.Stats(); st.Dropped != 1 || st.Written != 25 {
				t.Fatalf("after Close: %+v", st)
			}
		})
	}
}

// An event without a level or lists, and a huge user agent, are stored sanely.
func TestRecorder_Defaults(t *testing.T) {
	db := sqltest.Open(t, sqltest.SQLite)
	r, err := sqlstore.NewRecorder(db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Record(analytics.Event{Signal: analytics.Signal{Subject: "u", UserAgent: strings.Repeat("é", 1000)}})
	r.Close()
	got, err := r.List(context.Background(), sqlstore.Filter{Subject: "u"})
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %+v, %v", got, err)
	}
	e := got[0]
	if e.Risk.Level != analytics.LevelNone || e.At.IsZero() || len(e.UserAgent) > 512 || !strings.HasPrefix(e.UserAgent, "éé") ||
		e.Risk.Reasons == nil || e.Outcomes == nil {
		t.Fatalf("stored %+v", e)
	}
}

// A database that does not answer never blocks Record: the buffer fills, further
// events are dropped, and a batch whose INSERT times out is counted as failed.
func TestRecorder_NeverBlocks(t *testing.T) {
	db := sqltest.Open(t, sqltest.SQLite) // one connection: holding it stalls the writer
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sqlstore.NewRecorder(db, sqlstore.Options{Buffer: 4, Batch: 2, FlushEvery: 10 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			r.Record(event(i, "alice"))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked")
	}
	time.Sleep(400 * time.Millisecond) // past the batch timeout
	_ = conn.Close()
	r.Close()
	st := r.Stats()
	if st.Recorded+st.Dropped != 50 || st.Dropped < 40 || st.Failed < 1 || st.Written+st.Failed != st.Recorded || r.LastError() == "" {
		t.Fatalf("stats %+v, last error %q", st, r.LastError())
	}
}
