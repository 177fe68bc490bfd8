package analytics

import (
	"context"
	"time"
)

// Signal is what one request tells the risk engine: who, from where, with what. The
// caller fills in what the request says; the Engine adds the Location of IP when a
// Locator is configured and the caller left it empty.
type Signal struct {
	Subject     string
	SubjectKind string // "user", "machine" or "client"
	ClientID    string
	SessionID   string
	Action      string
	IP          string
	UserAgent   string
	DeviceID    string
	At          time.Time
	// Attempt marks a request that has not proven a credential yet (a login scored
	// before its password is checked): it is scored, but teaches the baselines
	// nothing, so that whoever types a victim's username from elsewhere can neither
	// move the victim's last place (and make their next request look like
	// impossible travel) nor enrol a device.
	Attempt bool
	Location
}

// Location is where an address is, as far as a GeoIP database knows. Every field is
// optional: the zero Location means "nowhere known".
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code, upper case.
	Country string `json:"country,omitempty"`
	// City identifies the city (its GeoNames id when the database has one), so two
	// events in one city are not travel however far apart their coordinates are.
	City string `json:"city,omitempty"`
	// Network is the address's network as the baselines know it: "AS64500" when the
	// ASN is known, otherwise the address's /24 (IPv4) or /48 (IPv6) (see NetworkOf).
	Network string `json:"network,omitempty"`
	ASN     uint32 `json:"asn,omitempty"`
	ASOrg   string `json:"as_org,omitempty"`
	// Lat and Lon are meaningful only when Located: (0, 0) is a real place.
	Lat        float64 `json:"lat,omitempty"`
	Lon        float64 `json:"lon,omitempty"`
	AccuracyKM uint16  `json:"accuracy_km,omitempty"` // radius around Lat/Lon; 0 when unknown
	Located    bool    `json:"located,omitempty"`
}

// Level buckets a risk score.
type Level string

// Levels, lowest first.
const (
	LevelNone     Level = "none"
	LevelLow      Level = "low"
	LevelMedium   Level = "medium"
	LevelHigh     Level = "high"
	LevelCritical Level = "critical"
)

// Risk is a score from 0 to 100 with its level and the reasons behind it.
type Risk struct {
	Score   int
	Level   Level
	Reasons []Reason
}

// Reason is one detector's finding: a machine-readable code and a sentence.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Scorer scores a request. It runs on every request: no SQL and no network in the
// steady state.
type Scorer interface {
	Score(ctx context.Context, s Signal) (Risk, error)
}

// NoRisk is the scorer until the risk engine lands: every request scores 0.
type NoRisk struct{}

// Score implements Scorer.
func (NoRisk) Score(context.Context, Signal) (Risk, error) { return Risk{Level: LevelNone}, nil }

// Event is one decision as the analytics pipeline records it.
type Event struct {
	Signal
	Risk     Risk
	Allowed  bool
	Outcomes []string // the decision's reason codes
}

// Recorder takes events off the hot path. Record must never block or fail the
// decision: an implementation buffers and drops (and counts) what it cannot keep.
type Recorder interface {
	Record(e Event)
}

// Discard is the recorder until the event pipeline lands.
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(Event) {}
