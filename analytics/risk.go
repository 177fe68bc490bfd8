package analytics

import (
	"context"
	"time"
)

// Signal is what one request tells the risk engine: who, from where, with what.
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
