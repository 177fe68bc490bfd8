package analytics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Levels are the lowest scores of each level above none. A score below Low is none.
type Levels struct {
	Low      int // default 10
	Medium   int // default 30
	High     int // default 60
	Critical int // default 85
}

// Of maps a score to its level.
func (l Levels) Of(score int) Level {
	switch {
	case score >= l.Critical:
		return LevelCritical
	case score >= l.High:
		return LevelHigh
	case score >= l.Medium:
		return LevelMedium
	case score >= l.Low:
		return LevelLow
	}
	return LevelNone
}

func (l Levels) valid() bool {
	return 0 < l.Low && l.Low < l.Medium && l.Medium < l.High && l.High < l.Critical && l.Critical <= 100
}

// rank orders levels, for LearnBelow.
func rank(l Level) int {
	return slices.Index([]Level{LevelNone, LevelLow, LevelMedium, LevelHigh, LevelCritical}, l)
}

// Config configures an Engine. Only State is needed for the stateful detectors; the
// zero Config scores with threat lists alone (none configured: every request is 0).
type Config struct {
	// State remembers baselines, counters and standing risk; nil means none (the
	// stateful detectors stay quiet).
	State State
	// Locator fills in a signal's Location from its IP when the caller left Country
	// and Network empty; nil means no geo (Network is then derived from the address).
	Locator Locator
	// Threats is the threat list of the default ThreatIntel detector.
	Threats ThreatList
	// Detectors run on every request; nil means DefaultDetectors.
	Detectors []Detector
	// FailureWindow is how far back failed logins count (default 15m).
	FailureWindow time.Duration
	// HalfLife is the standing risk's half-life (default 6h).
	HalfLife time.Duration
	// Levels maps scores to levels (default 10, 30, 60, 85).
	Levels Levels
	// LearnBelow: a request's device and network become known to its subject only
	// when it scores below this level (default high). Where a request was last seen
	// and the session's first-seen values are recorded whatever the score.
	LearnBelow Level
	// Escalate raises the subject's standing risk by the given amount when a request
	// with a session (the session's token was presented) has a finding with the code.
	// nil means DefaultEscalation; an empty map turns escalation off. Requests
	// without a session, and attempts (Signal.Attempt), never escalate: anyone can
	// try to log in as anyone, and must not be able to raise a victim's risk that way.
	Escalate map[string]float64
	// WriteBehind queues the writes a Score causes (observations, escalations) for a
	// background worker instead of making them before Score returns. Turn it on with
	// a remote State, so the request pays for one round trip (the read) rather than
	// two. QueueSize bounds the queue (default 4096); a full queue drops, counted.
	WriteBehind bool
	QueueSize   int
	// Refresh: a request that would teach the baselines nothing new (known device,
	// network and session, same city) is not written unless the subject's baseline
	// is older than this (default 1m), which keeps Redis writes to about one per
	// active subject a minute, and the last place's time current to within it.
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultEscalation is the Escalate used when none is configured.
func DefaultEscalation() map[string]float64 {
	return map[string]float64{CodeImpossibleTravel: 20, CodeSessionDrift: 20}
}

// DefaultDetectors are every detector with its default settings.
func DefaultDetectors(threats ThreatList, halfLife time.Duration) []Detector {
	return []Detector{NewDevice{}, NewNetwork{}, ImpossibleTravel{}, SessionDrift{}, ThreatIntel{Lists: threats},
		LoginVelocity{}, StandingRisk{HalfLife: halfLife}}
}

// Stats are the Engine's counters, for metrics.
type Stats struct {
	Scored      uint64 // requests scored
	StateErrors uint64 // State calls that failed (the request was scored without them)
	Dropped     uint64 // queued writes dropped because the queue was full
}

// Engine is the risk engine: it implements Scorer by running the detectors over the
// request and the state, and combines their findings into one score.
//
// Combination: each finding is a probability-like score p in 0..100, and the request's
// score is 100 * (1 - Π(1 - p/100)), rounded. It saturates: it never exceeds 100, one
// finding alone keeps its score, and every further finding raises the total by a share
// of what is left (two findings of 50 make 75, three make 88). Reasons are sorted by
// their finding's score, highest first.
type Engine struct {
	cfg      Config
	escalate map[string]float64

	queue  chan func(context.Context) error
	wg     sync.WaitGroup
	mu     sync.RWMutex // held for reading while queueing, for writing by Close
	closed bool

	scored, stateErrors, dropped atomic.Uint64
}

var _ Scorer = (*Engine)(nil)

// NewEngine checks cfg and fills in its defaults. With WriteBehind it starts the
// writer; Close stops it.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = 15 * time.Minute
	}
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = 6 * time.Hour
	}
	if cfg.Levels == (Levels{}) {
		cfg.Levels = Levels{Low: 10, Medium: 30, High: 60, Critical: 85}
	}
	if !cfg.Levels.valid() {
		return nil, fmt.Errorf("risk levels must rise strictly within 1..100: %+v", cfg.Levels)
	}
	if cfg.LearnBelow == "" {
		cfg.LearnBelow = LevelHigh
	}
	if rank(cfg.LearnBelow) < 0 {
		return nil, fmt.Errorf("unknown risk level %q", cfg.LearnBelow)
	}
	if cfg.Detectors == nil {
		cfg.Detectors = DefaultDetectors(cfg.Threats, cfg.HalfLife)
	}
	escalate := cfg.Escalate
	if escalate == nil {
		escalate = DefaultEscalation()
	}
	for code, amount := range escalate {
		if amount < 0 || amount > 100 {
			return nil, fmt.Errorf("escalation for %q must be within 0..100", code)
		}
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{cfg: cfg, escalate: escalate}
	if cfg.WriteBehind && cfg.State != nil {
		e.queue = make(chan func(context.Context) error, cfg.QueueSize)
		e.wg.Add(1)
		go e.writer()
	}
	return e, nil
}

// Score implements Scorer. It never returns an error: a state that cannot be read is
// counted and the request is scored on what the request itself shows.
func (e *Engine) Score(ctx context.Context, s Signal) (Risk, error) {
	e.scored.Add(1)
	// The detectors take the input by pointer through an interface, so it would
	// escape to the heap: a pool keeps the hot path free of that allocation.
	in := inputs.Get().(*Input)
	defer inputs.Put(in)
	*in = Input{Signal: s, Now: e.cfg.Now()}
	if in.At.IsZero() {
		in.At = in.Now
	}
	if a, err := netip.ParseAddr(s.IP); err == nil {
		in.Addr = a.Unmap()
	}
	if in.Country == "" && in.Network == "" && in.Addr.IsValid() {
		if e.cfg.Locator != nil {
			in.Location = e.cfg.Locator.Locate(in.Addr)
		} else {
			in.Network = NetworkOf(in.Addr)
		}
	}
	if e.cfg.State != nil {
		// A remote State bounds its own calls (redisstore.Options.Timeout): the
		// in-process one needs no timer.
		snap, err := e.cfg.State.Load(ctx, Query{Subject: s.Subject, SessionID: s.SessionID, DeviceID: s.DeviceID,
			Network: in.Network, User: s.Subject, IP: in.ipKey(), At: in.At, FailureWindow: e.cfg.FailureWindow})
		if err != nil {
			e.stateErrors.Add(1)
		} else {
			in.Snapshot, in.Stateful = snap, true
		}
	}

	var findings [8]Finding
	found := findings[:0]
	for _, d := range e.cfg.Detectors {
		if f, ok := d.Detect(in); ok && f.Score > 0 {
			found = append(found, f)
		}
	}
	risk := e.combine(found)
	if e.cfg.State != nil && s.Subject != "" && !s.Attempt {
		e.after(ctx, in, risk.Level, found)
	}
	return risk, nil
}

// Locate is the Location Score gives ip (the Locator's answer, or the derived network
// alone), for callers that put country and network into a policy's context or an
// event. An empty or malformed ip has the zero Location.
func (e *Engine) Locate(ip string) Location {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return Location{}
	}
	a = a.Unmap()
	if e.cfg.Locator != nil {
		return e.cfg.Locator.Locate(a)
	}
	return Location{Network: NetworkOf(a)}
}

var inputs = sync.Pool{New: func() any { return new(Input) }}

// ipKey is the address as counters know it: canonical, so "::ffff:192.0.2.1" and
// "192.0.2.1" count together. The caller's string is reused when it is canonical
// already (the usual case), which saves formatting it again.
func (in *Input) ipKey() string {
	if !in.Addr.IsValid() {
		return ""
	}
	a := in.Addr.WithZone("")
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == in.IP {
		return in.IP
	}
	return a.String()
}

func (e *Engine) combine(found []Finding) Risk {
	if len(found) == 0 {
		return Risk{Level: LevelNone}
	}
	rest := 1.0
	for _, f := range found {
		rest *= 1 - min(f.Score, 100)/100
	}
	score := int(math.Round(100 * (1 - rest)))
	slices.SortStableFunc(found, func(a, b Finding) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Reason.Code, b.Reason.Code)
	})
	reasons := make([]Reason, len(found))
	for i, f := range found {
		reasons[i] = f.Reason
	}
	return Risk{Score: score, Level: e.cfg.Levels.Of(score), Reasons: reasons}
}

// after records the request in the baselines and escalates standing risk, now or
// through the queue.
func (e *Engine) after(ctx context.Context, in *Input, level Level, found []Finding) {
	o := Observation{Subject: in.Subject, SessionID: in.SessionID, DeviceID: in.DeviceID, Network: in.Network,
		Country: in.Country, Located: in.Located, Learn: rank(level) < rank(e.cfg.LearnBelow), At: in.At}
	if in.Located {
		o.Place = Place{Lat: in.Lat, Lon: in.Lon, AccuracyKM: in.AccuracyKM, Country: in.Country, City: in.City, At: in.At}
	}
	escalates := false
	for _, f := range found {
		escalates = escalates || (in.SessionID != "" && e.escalate[f.Reason.Code] > 0)
	}
	if !escalates && e.redundant(in, &o) {
		return
	}
	// Without the queue the writes are part of the request, and a request that was
	// cancelled (the client left) may lose them: they are observations, not grants.
	if e.queue == nil {
		e.count(e.cfg.State.Observe(ctx, o))
	} else {
		queued := o // a copy, so that o itself stays on the stack
		e.enqueue(func(ctx context.Context) error { return e.cfg.State.Observe(ctx, queued) })
	}
	if in.SessionID == "" {
		return
	}
	for _, f := range found {
		if amount := e.escalate[f.Reason.Code]; amount > 0 {
			subject, reason, at := in.Subject, f.Reason, in.At
			if e.queue == nil {
				e.count(e.cfg.State.RaiseStanding(ctx, subject, amount, reason, e.cfg.HalfLife, at))
				continue
			}
			e.enqueue(func(ctx context.Context) error {
				return e.cfg.State.RaiseStanding(ctx, subject, amount, reason, e.cfg.HalfLife, at)
			})
		}
	}
}

// redundant reports whether writing o would change nothing the detectors use before
// the baseline is Refresh old.
func (e *Engine) redundant(in *Input, o *Observation) bool {
	snap := &in.Snapshot
	sub := &snap.Subject
	if !in.Stateful || !sub.Seen || in.At.Sub(sub.SeenAt) >= e.cfg.Refresh {
		return false
	}
	if o.Learn && ((o.DeviceID != "" && !sub.DeviceKnown) || (o.Network != "" && !sub.NetworkKnown)) {
		return false
	}
	if o.SessionID != "" && !snap.Session.Seen {
		return false
	}
	if o.Located && (!sub.HasLast || sub.Last.City != o.Place.City || sub.Last.Country != o.Place.Country ||
		DistanceKM(sub.Last.Lat, sub.Last.Lon, o.Place.Lat, o.Place.Lon) > 1) {
		return false
	}
	return true
}

func (e *Engine) count(err error) {
	if err != nil {
		e.stateErrors.Add(1)
	}
}

// enqueue hands a write to the writer, or drops it (counted) when the queue is full.
func (e *Engine) enqueue(write func(context.Context) error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- write:
	default:
		e.dropped.Add(1)
	}
}

func (e *Engine) writer() {
	defer e.wg.Done()
	for write := range e.queue {
		e.count(write(context.Background()))
	}
}

// Close stops the writer after it has made the queued writes. Writes of requests
// scored after Close are dropped (and counted).
func (e *Engine) Close() {
	if e.queue == nil {
		return
	}
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	return Stats{Scored: e.scored.Load(), StateErrors: e.stateErrors.Load(), Dropped: e.dropped.Load()}
}

// ErrNoState is returned by the calls that only write state when the Engine has none.
var ErrNoState = errors.New("risk engine has no state configured")

// RaiseSubjectRisk raises a subject's standing risk by amount (0..100), for an
// incoming signal (a CAEP or RISC event, a webhook): every node sees it on the
// subject's next request, decaying with the half-life. reason is what that next
// request's standing_risk finding will say.
func (e *Engine) RaiseSubjectRisk(ctx context.Context, subject string, amount float64, reason Reason) error {
	if subject == "" || !(amount > 0 && amount <= 100) {
		return fmt.Errorf("raise subject risk: need a subject and an amount within (0, 100], got %q and %v", subject, amount)
	}
	if e.cfg.State == nil {
		return ErrNoState
	}
	if err := e.cfg.State.RaiseStanding(ctx, subject, amount, reason, e.cfg.HalfLife, e.cfg.Now()); err != nil {
		e.stateErrors.Add(1)
		return fmt.Errorf("raise subject risk: %w", err)
	}
	return nil
}

// RecordLoginFailure counts a failed login for user and for the address it came from
// (either may be empty). An error is counted and returned; callers log it and go on.
func (e *Engine) RecordLoginFailure(ctx context.Context, user, ip string) error {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.Unmap().WithZone("").String()
	} else {
		ip = ""
	}
	if user == "" && ip == "" {
		return errors.New("record login failure: neither a user nor a valid address")
	}
	if e.cfg.State == nil {
		return ErrNoState
	}
	if err := e.cfg.State.AddFailure(ctx, user, ip, e.cfg.Now()); err != nil {
		e.stateErrors.Add(1)
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

// Trust makes the signal's device and network known to its subject, whatever they
// scored: after the user proved themselves again (step-up), the new device is theirs.
func (e *Engine) Trust(ctx context.Context, s Signal) error {
	if s.Subject == "" {
		return errors.New("trust: the signal has no subject")
	}
	if e.cfg.State == nil {
		return ErrNoState
	}
	at := s.At
	if at.IsZero() {
		at = e.cfg.Now()
	}
	network := s.Network
	if network == "" {
		if a, err := netip.ParseAddr(s.IP); err == nil {
			if e.cfg.Locator != nil {
				network = e.cfg.Locator.Locate(a).Network
			} else {
				network = NetworkOf(a)
			}
		}
	}
	o := Observation{Subject: s.Subject, DeviceID: s.DeviceID, Network: network, Learn: true, At: at}
	if err := e.cfg.State.Observe(ctx, o); err != nil {
		e.stateErrors.Add(1)
		return fmt.Errorf("trust: %w", err)
	}
	return nil
}
