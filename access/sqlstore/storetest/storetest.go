// Package storetest is the conformance suite of the revocation fabric's and the SSF
// transmitter's stores: revocation.Store and revocation.Log (the durable
// log and its receipts), the outbox (outbox.Store with the poll side that
// ssf.Queue adds) and ssf.Store (a receiver's streams). It tests the interfaces, not
// access/sqlstore's types, so that any implementation can be held to it. Each backend's
// test calls Run and RunConcurrency with a function that opens fresh, empty stores over
// one database in which Clients() exist.
package storetest

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity"
)

// Stores are the stores under test. They share one database: the log records
// applications of revocations created through Revocations.
type Stores struct {
	Revocations revocation.Store
	Log         revocation.Log
	// Outbox is the outbox with its SSF poll side (ssf.Queue embeds outbox.Store).
	Outbox  ssf.Queue
	Streams ssf.Store
}

// The fixture receivers: OAuth clients that own SSF streams.
const (
	ClientA = "st-receiver-a"
	ClientB = "st-receiver-b"
)

// Clients returns the clients the suites expect to exist (streams reference them).
func Clients() []access.Client {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := []access.Client{}
	for _, id := range []string{ClientA, ClientB} {
		out = append(out, access.Client{ID: id, Name: "Receiver " + id, Type: access.Public,
			RedirectURIs: []string{}, GrantTypes: []string{access.GrantClientCredentials}, Scopes: []string{ssf.Scope},
			PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now})
	}
	return out
}

type test struct {
	name string
	fn   func(t *testing.T, s Stores)
}

func run(t *testing.T, open func(t *testing.T) Stores, tests []test) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Run checks the stores' contracts, each test on stores of its own.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	run(t, open, []test{
		{"Revocation/RoundTrip", testRevocationRoundTrip},
		{"Revocation/NotFound", testRevocationNotFound},
		{"Revocation/ByKey", testRevocationByKey},
		{"Revocation/Conflict", testRevocationConflict},
		{"Log/EventsSince", testEventsSince},
		{"Log/RecordApplied", testRecordApplied},
		{"Log/RecordFanout", testRecordFanout},
		{"Outbox/EnqueueByRevocation", testEnqueueByRevocation},
		{"Outbox/ClaimLease", testClaimLease},
		{"Outbox/ClaimLimit", testClaimLimit},
		{"Outbox/ClaimSpread", testClaimSpread},
		{"Outbox/DeferTarget", testDeferTarget},
		{"Outbox/NextDue", testNextDue},
		{"Outbox/MarkDelivered", testMarkDelivered},
		{"Outbox/MarkFailed", testMarkFailed},
		{"Outbox/MarkGivenUp", testMarkGivenUp},
		{"Outbox/PullNeverClaimed", testPullNeverClaimed},
		{"Queue/Pending", testPending},
		{"Queue/Served", testServed},
		{"Queue/Acknowledge", testAcknowledge},
		{"Queue/Wake", testWake},
		{"Queue/GiveUpStream", testGiveUpStream},
		{"Queue/Retarget", testRetarget},
		{"Queue/Undelivered", testUndelivered},
		{"Streams/RoundTrip", testStreamRoundTrip},
		{"Streams/NotFound", testStreamNotFound},
		{"Streams/OtherClient", testStreamOtherClient},
		{"Streams/List", testStreamList},
		{"Streams/Update", testStreamUpdate},
		{"Streams/Delete", testStreamDelete},
		{"Streams/Receiving", testStreamReceiving},
		{"Streams/LegacyAuthorizations", testStreamLegacyAuthorizations},
		{"Streams/Subjects", testStreamSubjects},
	})
}

// RunConcurrency checks what several nodes (or goroutines) racing on one database rely
// on: an outbox message is leased to one claimant only, an idempotency key is taken
// once, and a node's application is recorded once.
func RunConcurrency(t *testing.T, open func(t *testing.T) Stores) {
	run(t, open, []test{
		{"Outbox/Claim", testConcurrentClaim},
		{"Revocation/IdempotencyKey", testConcurrentIdempotencyKey},
		{"Log/RecordApplied", testConcurrentRecordApplied},
	})
}

// --- helpers ------------------------------------------------------------------------

// base is the suites' clock: stores take every time from their callers. It has a
// microsecond fraction, the precision every backend must keep.
var base = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

// elsewhere is a zone that is not UTC: stores must compare instants, not wall clocks.
var elsewhere = time.FixedZone("UTC+05:30", 5*3600+30*60)

func random(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("%s: err = %v, want identity.ErrNotFound", what, err)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
}

func sameTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	default:
		sameTime(t, what, *got, *want)
	}
}

// ids returns the messages' ids, sorted, to compare sets.
func ids(ms []outbox.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	slices.Sort(out)
	return out
}

func byID[T any](xs []T, id func(T) string) []T {
	xs = slices.Clone(xs)
	slices.SortFunc(xs, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	return xs
}
