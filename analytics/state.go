package analytics

import (
	"context"
	"math"
	"time"
)

// State is what the risk engine remembers between requests: per subject the devices
// and networks seen and the last located event, per session the country, network and
// device it was first seen with, failed logins per user and per address, and each
// subject's standing risk. analytics/memstore keeps it in the process (one node);
// analytics/redisstore keeps it in Redis, shared by every node.
//
// Load is the only call on the hot path, and reads everything one Score needs at once:
// a remote implementation makes it one pipelined round trip. The writes happen after
// the decision (the Engine can queue them off the request), on a failed login, or when
// a signal arrives.
type State interface {
	// Load returns what the state knows about q's subject, session, user and address
	// at q.At. Absent records are zero values, not errors; an error means the state
	// could not be read (the Engine then scores without it).
	Load(ctx context.Context, q Query) (Snapshot, error)
	// Observe records one request: its place as the subject's last located event, its
	// device and network as known to the subject when o.Learn, and its country,
	// network and device as the session's own if the session has none yet.
	Observe(ctx context.Context, o Observation) error
	// AddFailure counts one failed login for user and for ip (either may be empty).
	AddFailure(ctx context.Context, user, ip string, at time.Time) error
	// RaiseStanding adds amount to the subject's standing risk, after decaying what
	// was there with halfLife, and keeps reason as the latest cause. The result is
	// capped at 100.
	RaiseStanding(ctx context.Context, subject string, amount float64, reason Reason, halfLife time.Duration, at time.Time) error
}

// Query names the records one Score reads.
type Query struct {
	Subject   string
	SessionID string
	DeviceID  string
	Network   string
	User      string // the failed-login counter's key; the Engine passes the subject
	IP        string
	At        time.Time
	// FailureWindow is how far back failed logins count.
	FailureWindow time.Duration
}

// Place is where and when a located event happened.
type Place struct {
	Lat, Lon   float64
	AccuracyKM uint16
	Country    string
	City       string
	At         time.Time
}

// SubjectView is what the subject's baseline says about one request.
type SubjectView struct {
	// Seen reports whether the subject has a baseline at all: on the first request
	// of a subject every device is new, which says nothing.
	Seen bool
	// SeenAt is when the subject's baseline was last written; the Engine skips
	// writes that would change nothing but this for a while (Config.Refresh).
	SeenAt       time.Time
	DeviceKnown  bool
	NetworkKnown bool
	// Last is the subject's last located event, when HasLast.
	Last    Place
	HasLast bool
}

// SessionView is what a session was first seen with.
type SessionView struct {
	Seen     bool
	Country  string
	Network  string
	DeviceID string
	At       time.Time
}

// Standing is a subject's standing risk as last written: Score at At, decaying since.
type Standing struct {
	Score  float64
	At     time.Time
	Reason Reason
}

// Decayed is the standing score at t, halving every halfLife.
func (s Standing) Decayed(t time.Time, halfLife time.Duration) float64 {
	return Decay(s.Score, t.Sub(s.At), halfLife)
}

// Decay is score after elapsed time with the given half-life (no decay for a
// non-positive half-life or elapsed time).
func Decay(score float64, elapsed, halfLife time.Duration) float64 {
	if score <= 0 {
		return 0
	}
	if elapsed <= 0 || halfLife <= 0 {
		return score
	}
	return score * math.Exp2(-float64(elapsed)/float64(halfLife))
}

// Snapshot is everything Load read for one request.
type Snapshot struct {
	Subject      SubjectView
	Session      SessionView
	UserFailures int // failed logins of the user within the window
	IPFailures   int // failed logins from the address within the window
	Standing     Standing
}

// Observation is one request as the baselines record it.
type Observation struct {
	Subject   string
	SessionID string
	DeviceID  string
	Network   string
	Country   string
	// Place is recorded as the subject's last located event when Located.
	Place   Place
	Located bool
	// Learn adds DeviceID and Network to the subject's known devices and networks.
	// The Engine learns only from requests that did not look risky, so one attack
	// does not teach the baseline the attacker's device.
	Learn bool
	At    time.Time
}
