package analytics_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/geoip"
	"github.com/weft-fabric/weft/analytics/geoip/geoiptest"
	"github.com/weft-fabric/weft/analytics/memstore"
	"github.com/weft-fabric/weft/analytics/threatintel"
)

// fixed is a detector that always finds the same thing.
type fixed analytics.Finding

func (f fixed) Detect(*analytics.Input) (analytics.Finding, bool) { return analytics.Finding(f), true }

func codes(r analytics.Risk) []string {
	out := make([]string, len(r.Reasons))
	for i, rr := range r.Reasons {
		out[i] = rr.Code
	}
	return out
}

func TestEngine_Combine(t *testing.T) {
	f := func(code string, score float64) analytics.Detector {
		return fixed{Score: score, Reason: analytics.Reason{Code: code, Message: code}}
	}
	tests := []struct {
		name      string
		detectors []analytics.Detector
		score     int
		level     analytics.Level
		codes     []string
	}{
		{"nothing", []analytics.Detector{}, 0, analytics.LevelNone, []string{}},
		{"one finding keeps its score", []analytics.Detector{f("a", 25)}, 25, analytics.LevelLow, []string{"a"}},
		{"two halves make three quarters", []analytics.Detector{f("a", 50), f("b", 50)}, 75, analytics.LevelHigh, []string{"a", "b"}},
		{"saturates below 100", []analytics.Detector{f("a", 50), f("b", 50), f("c", 50)}, 88, analytics.LevelCritical, []string{"a", "b", "c"}},
		{"sorted by weight", []analytics.Detector{f("low", 10), f("high", 60), f("mid", 30)}, 75, analytics.LevelHigh, []string{"high", "mid", "low"}},
		{"certain stays 100", []analytics.Detector{f("a", 100), f("b", 30)}, 100, analytics.LevelCritical, []string{"a", "b"}},
		{"over 100 is 100", []analytics.Detector{f("a", 250)}, 100, analytics.LevelCritical, []string{"a"}},
		{"zero findings are dropped", []analytics.Detector{f("a", 0), f("b", 9)}, 9, analytics.LevelNone, []string{"b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := analytics.NewEngine(analytics.Config{Detectors: tc.detectors})
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.Score(context.Background(), analytics.Signal{Subject: "u"})
			if err != nil || r.Score != tc.score || r.Level != tc.level || !slices.Equal(codes(r), tc.codes) {
				t.Fatalf("Score = %+v, %v; want %d %s %v", r, err, tc.score, tc.level, tc.codes)
			}
		})
	}
}

func TestLevels_Of(t *testing.T) {
	l := analytics.Levels{Low: 10, Medium: 30, High: 60, Critical: 85}
	for score, want := range map[int]analytics.Level{0: "none", 9: "none", 10: "low", 29: "low", 30: "medium", 59: "medium",
		60: "high", 84: "high", 85: "critical", 100: "critical"} {
		if got := l.Of(score); got != want {
			t.Errorf("Of(%d) = %s, want %s", score, got, want)
		}
	}
}

func TestNewEngine_Rejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  analytics.Config
	}{
		{"levels out of order", analytics.Config{Levels: analytics.Levels{Low: 30, Medium: 10, High: 60, Critical: 85}}},
		{"levels over 100", analytics.Config{Levels: analytics.Levels{Low: 10, Medium: 30, High: 60, Critical: 101}}},
		{"unknown learn level", analytics.Config{LearnBelow: "severe"}},
		{"negative escalation", analytics.Config{Escalate: map[string]float64{"x": -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := analytics.NewEngine(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// realEngine is an engine over a test GeoIP database, a threat feed file and memory.
func realEngine(t *testing.T, c *clock, mut ...func(*analytics.Config)) *analytics.Engine {
	t.Helper()
	geo, err := geoip.Open(geoip.Config{
		CityPath: geoiptest.WriteCity(t, geoiptest.Berlin, geoiptest.Potsdam, geoiptest.NewYork, geoiptest.Sydney),
		ASNPath:  geoiptest.WriteASN(t, geoiptest.ASBerlin, geoiptest.ASNewYork),
	})
	if err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(t.TempDir(), "listed.txt")
	if err := os.WriteFile(feed, []byte("203.0.113.66\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	threats, err := threatintel.New(threatintel.Config{Sources: []threatintel.Source{{Name: "drop", Location: feed}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := threats.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := analytics.Config{State: memstore.New(memstore.Options{}), Locator: geo, Threats: threats, Now: c.Now}
	for _, m := range mut {
		m(&cfg)
	}
	e, err := analytics.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// A user's day: a quiet baseline, a new device, the session's token replayed from New
// York ten minutes later, a listed address, and standing risk carried afterwards.
func TestEngine_Scenario(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c)
	ctx := context.Background()
	score := func(s analytics.Signal) analytics.Risk {
		t.Helper()
		s.At = c.Now()
		r, err := e.Score(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	home := analytics.Signal{Subject: "u1", SubjectKind: "user", SessionID: "s1", IP: "192.0.2.10", DeviceID: "d1", Action: "introspect"}

	if r := score(home); r.Score != 0 || r.Level != analytics.LevelNone {
		t.Fatalf("first request: %+v", r)
	}
	c.Set(t0.Add(time.Minute))
	if r := score(home); r.Score != 0 {
		t.Fatalf("the same request again: %+v", r)
	}

	// A new device in Potsdam, same AS: a new device, not travel (27 km).
	laptop := home
	laptop.SessionID, laptop.DeviceID, laptop.IP = "s2", "d2", "192.0.2.200"
	c.Set(t0.Add(2 * time.Minute))
	if r := score(laptop); r.Score != 25 || r.Level != analytics.LevelLow || !slices.Equal(codes(r), []string{"new_device"}) {
		t.Fatalf("new device: %+v", r)
	}
	c.Set(t0.Add(3 * time.Minute))
	if r := score(laptop); r.Score != 0 {
		t.Fatalf("the new device was not learnt: %+v", r)
	}

	// Session s1's token from New York, ten minutes after Potsdam.
	stolen := home
	stolen.IP = "198.51.100.7"
	c.Set(t0.Add(13 * time.Minute))
	r := score(stolen)
	// 1 - 0.3 (travel 70) * 0.3 (drift: country 50 + network 20) * 0.85 (new network 15) = 0.9235
	if r.Score != 92 || r.Level != analytics.LevelCritical ||
		!slices.Equal(codes(r), []string{"impossible_travel", "session_drift", "new_network"}) {
		t.Fatalf("replayed token: %+v", r)
	}

	// The findings raised the standing risk (20 + 20): the user's own next request
	// carries it, as does the travel back.
	c.Set(t0.Add(14 * time.Minute))
	r = score(laptop)
	if !slices.Contains(codes(r), "standing_risk") || r.Score < 39 {
		t.Fatalf("standing risk not carried: %+v", r)
	}

	// A listed address, for another user on a fresh session.
	bad := analytics.Signal{Subject: "u2", IP: "203.0.113.66", DeviceID: "x"}
	if r := score(bad); r.Score != 80 || r.Level != analytics.LevelHigh || !slices.Equal(codes(r), []string{"threat_intel"}) {
		t.Fatalf("listed address: %+v", r)
	}
}

func TestEngine_Locate(t *testing.T) {
	e := realEngine(t, &clock{t: t0})
	if got := e.Locate("::ffff:192.0.2.10"); got.Country != "DE" || got.Network != "AS64500" || !got.Located {
		t.Fatalf("Locate = %+v", got)
	}
	if got := e.Locate("not-an-ip"); got != (analytics.Location{}) {
		t.Fatalf("Locate of garbage = %+v", got)
	}
	bare, err := analytics.NewEngine(analytics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bare.Locate("2001:db8:1:2::3"); got != (analytics.Location{Network: "2001:db8:1::/48"}) {
		t.Fatalf("Locate without a Locator = %+v", got)
	}
}

// A risky request does not teach the baseline its device; Trust does.
func TestEngine_LearnsOnlyFromQuietRequests(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c)
	ctx := context.Background()
	_, _ = e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", DeviceID: "d1", At: t0})
	r, _ := e.Score(ctx, analytics.Signal{Subject: "u1", IP: "203.0.113.66", DeviceID: "evil", At: t0.Add(time.Minute)})
	if r.Score < 60 || !slices.Contains(codes(r), "new_device") {
		t.Fatalf("listed address (in Sydney) with a new device: %+v", r)
	}
	r, _ = e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", DeviceID: "evil", At: t0.Add(2 * time.Minute)})
	if !slices.Contains(codes(r), "new_device") {
		t.Fatalf("the attacker's device was learnt: %+v", r)
	}
	if err := e.Trust(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", DeviceID: "evil"}); err != nil {
		t.Fatal(err)
	}
	r, _ = e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", DeviceID: "evil", At: t0.Add(3 * time.Minute)})
	if r.Score != 0 {
		t.Fatalf("a trusted device still flagged: %+v", r)
	}
	if err := e.Trust(ctx, analytics.Signal{DeviceID: "d"}); err == nil {
		t.Fatal("Trust without a subject accepted")
	}
}

func TestEngine_LoginVelocity(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c)
	ctx := context.Background()
	for range 5 {
		if err := e.RecordLoginFailure(ctx, "u1", "::ffff:192.0.2.10"); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", Action: "login", At: t0})
	if r.Score != 40 || !slices.Equal(codes(r), []string{"login_velocity"}) {
		t.Fatalf("after five failures: %+v", r)
	}
	// Another user from that address: below the address limit of 20.
	if r, _ := e.Score(ctx, analytics.Signal{Subject: "u2", IP: "192.0.2.10", At: t0}); r.Score != 0 {
		t.Fatalf("another user: %+v", r)
	}
	// The window passes.
	c.Set(t0.Add(16 * time.Minute))
	if r, _ := e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", At: c.Now()}); r.Score != 0 {
		t.Fatalf("after the window: %+v", r)
	}
	for _, bad := range [][2]string{{"", ""}, {"", "not-an-ip"}} {
		if err := e.RecordLoginFailure(ctx, bad[0], bad[1]); err == nil {
			t.Fatalf("RecordLoginFailure(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestEngine_RaiseSubjectRisk(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c, func(cfg *analytics.Config) { cfg.HalfLife = time.Hour })
	ctx := context.Background()
	reason := analytics.Reason{Code: "device_compromised", Message: "A device of this user was reported compromised."}
	if err := e.RaiseSubjectRisk(ctx, "u1", 70, reason); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Score(ctx, analytics.Signal{Subject: "u1", IP: "192.0.2.10", At: t0})
	if r.Score != 70 || r.Level != analytics.LevelHigh || r.Reasons[0].Code != "standing_risk" ||
		r.Reasons[0].Message != "The subject carries standing risk: "+reason.Message {
		t.Fatalf("after the signal: %+v", r)
	}
	c.Set(t0.Add(time.Hour))
	// (Without an address: the network is not learnt while the subject's risk is high.)
	if r, _ := e.Score(ctx, analytics.Signal{Subject: "u1", At: c.Now()}); r.Score != 35 || r.Level != analytics.LevelMedium {
		t.Fatalf("one half-life later: %+v", r)
	}
	for _, amount := range []float64{0, -5, 101, math.NaN()} {
		if err := e.RaiseSubjectRisk(ctx, "u1", amount, reason); err == nil {
			t.Fatalf("amount %v accepted", amount)
		}
	}
	if err := e.RaiseSubjectRisk(ctx, "", 10, reason); err == nil {
		t.Fatal("no subject accepted")
	}
}

// A login attempt (before the password is checked) is scored but changes nothing: an
// attacker typing the victim's username in Sydney neither raises the victim's risk nor
// moves their last place, so the victim's next request from Berlin is not travel.
func TestEngine_AttemptsChangeNothing(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c)
	ctx := context.Background()
	victim := analytics.Signal{Subject: "u1", SessionID: "s1", IP: "192.0.2.10", DeviceID: "d1"}
	victim.At = t0
	_, _ = e.Score(ctx, victim)
	attempt := analytics.Signal{Subject: "u1", IP: "203.0.113.5", DeviceID: "evil", Action: "login", Attempt: true}
	for i := range 3 {
		attempt.At = t0.Add(time.Duration(i+1) * time.Minute)
		r, _ := e.Score(ctx, attempt)
		if !slices.Contains(codes(r), "impossible_travel") || !slices.Contains(codes(r), "new_device") {
			t.Fatalf("the attempt itself is not scored as risky: %+v", r)
		}
	}
	victim.At = t0.Add(5 * time.Minute)
	if r, _ := e.Score(ctx, victim); r.Score != 0 {
		t.Fatalf("the attempts changed the victim's baseline: %+v", r)
	}
	// Without a session, even a credentialed request does not escalate.
	_, _ = e.Score(ctx, analytics.Signal{Subject: "u2", IP: "192.0.2.10", At: t0})
	r, _ := e.Score(ctx, analytics.Signal{Subject: "u2", IP: "198.51.100.7", At: t0.Add(time.Minute)})
	if !slices.Contains(codes(r), "impossible_travel") {
		t.Fatalf("travel not seen: %+v", r)
	}
	if r, _ := e.Score(ctx, analytics.Signal{Subject: "u2", IP: "198.51.100.7", At: t0.Add(2 * time.Minute)}); slices.Contains(codes(r), "standing_risk") {
		t.Fatalf("a request without a session escalated: %+v", r)
	}
}

// broken is a State whose every call fails, as a Redis that is down.
type broken struct{}

var errDown = errors.New("state down")

func (broken) Load(context.Context, analytics.Query) (analytics.Snapshot, error) {
	return analytics.Snapshot{}, errDown
}
func (broken) Observe(context.Context, analytics.Observation) error        { return errDown }
func (broken) AddFailure(context.Context, string, string, time.Time) error { return errDown }
func (broken) RaiseStanding(context.Context, string, float64, analytics.Reason, time.Duration, time.Time) error {
	return errDown
}

// A state that cannot be read never fails a decision: the request is scored on what it
// shows (a listed address still counts), and the failure is counted.
func TestEngine_StateDownNeverFails(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c, func(cfg *analytics.Config) { cfg.State = broken{} })
	ctx := context.Background()
	r, err := e.Score(ctx, analytics.Signal{Subject: "u1", SessionID: "s", IP: "203.0.113.66", DeviceID: "d", At: t0})
	if err != nil || r.Score != 80 || !slices.Equal(codes(r), []string{"threat_intel"}) {
		t.Fatalf("Score with the state down = %+v, %v", r, err)
	}
	if st := e.Stats(); st.StateErrors != 2 || st.Scored != 1 { // the read and the write
		t.Fatalf("stats %+v", st)
	}
	if err := e.RecordLoginFailure(ctx, "u1", "192.0.2.1"); !errors.Is(err, errDown) {
		t.Fatalf("RecordLoginFailure: %v", err)
	}
	if err := e.RaiseSubjectRisk(ctx, "u1", 10, analytics.Reason{}); !errors.Is(err, errDown) {
		t.Fatalf("RaiseSubjectRisk: %v", err)
	}
}

// blocking is a memory store whose writes wait for release.
type blocking struct {
	*memstore.Store
	entered chan struct{} // one value per write that started
	release chan struct{}
}

func (b blocking) Observe(ctx context.Context, o analytics.Observation) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Observe(ctx, o)
}

// Write-behind: Score returns before the writes, a full queue drops (counted), and
// Close makes the queued writes.
func TestEngine_WriteBehind(t *testing.T) {
	st := blocking{Store: memstore.New(memstore.Options{}), entered: make(chan struct{}, 16), release: make(chan struct{})}
	e, err := analytics.NewEngine(analytics.Config{State: st, WriteBehind: true, QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = e.Score(ctx, analytics.Signal{Subject: "u1", DeviceID: "d1", IP: "192.0.2.10", At: t0})
	<-st.entered // the writer holds the first write
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i < 5; i++ {
			_, _ = e.Score(ctx, analytics.Signal{Subject: "u1", DeviceID: "d1", IP: "192.0.2.10", At: t0.Add(time.Duration(i) * time.Second)})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Score waited for a write")
	}
	// One write is with the writer, two in the queue: two of five dropped.
	if got := e.Stats().Dropped; got != 2 {
		t.Fatalf("%d dropped, want 2", got)
	}
	close(st.release)
	e.Close()
	snap, _ := st.Load(ctx, analytics.Query{Subject: "u1", DeviceID: "d1", At: t0})
	if !snap.Subject.Seen || !snap.Subject.DeviceKnown {
		t.Fatalf("queued writes were not made: %+v", snap.Subject)
	}
	// After Close, writes are dropped rather than panicking.
	_, _ = e.Score(ctx, analytics.Signal{Subject: "u2", At: t0})
	if got := e.Stats().Dropped; got != 3 {
		t.Fatalf("%d dropped after Close, want 3", got)
	}
}

// Many goroutines score at once (run with -race).
func TestEngine_Concurrent(t *testing.T) {
	c := &clock{t: t0}
	e := realEngine(t, c, func(cfg *analytics.Config) { cfg.WriteBehind = true })
	ctx := context.Background()
	var wg sync.WaitGroup
	ips := []string{"192.0.2.10", "198.51.100.7", "203.0.113.66", "2001:db8::1"}
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s := analytics.Signal{Subject: []string{"u1", "u2"}[i%2], SessionID: "s", IP: ips[(g+i)%len(ips)], DeviceID: "d", At: t0.Add(time.Duration(i) * time.Second)}
				if r, err := e.Score(ctx, s); err != nil || r.Score < 0 || r.Score > 100 {
					t.Errorf("Score = %+v, %v", r, err)
					return
				}
				if i%50 == 0 {
					_ = e.RecordLoginFailure(ctx, s.Subject, s.IP)
				}
			}
		})
	}
	wg.Wait()
	e.Close()
	if st := e.Stats(); st.Scored != 1600 || st.StateErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// counting counts the writes that reach a memory store.
type counting struct {
	*memstore.Store
	observes int
}

func (c *counting) Observe(ctx context.Context, o analytics.Observation) error {
	c.observes++
	return c.Store.Observe(ctx, o)
}

// A request that teaches the baseline nothing new is not written again until the
// baseline is Refresh old; anything new is written at once.
func TestEngine_SkipsRedundantWrites(t *testing.T) {
	st := &counting{Store: memstore.New(memstore.Options{})}
	geo, err := geoip.Open(geoip.Config{CityPath: geoiptest.WriteCity(t, geoiptest.Berlin, geoiptest.NewYork)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := analytics.NewEngine(analytics.Config{State: st, Locator: geo, Refresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := analytics.Signal{Subject: "u1", SessionID: "s1", IP: "192.0.2.10", DeviceID: "d1"}
	steps := []struct {
		name   string
		after  time.Duration
		change func(*analytics.Signal)
		writes int
	}{
		{"first request", 0, nil, 1},
		{"same again", 10 * time.Second, nil, 1},
		{"new device", 20 * time.Second, func(s *analytics.Signal) { s.DeviceID = "d2" }, 2},
		{"new session", 30 * time.Second, func(s *analytics.Signal) { s.SessionID = "s2" }, 3},
		{"same again", 40 * time.Second, nil, 3},
		{"baseline a minute old", 95 * time.Second, nil, 4},
		{"another city", 96 * time.Second, func(s *analytics.Signal) { s.IP = "198.51.100.7" }, 5},
	}
	for _, step := range steps {
		if step.change != nil {
			step.change(&s)
		}
		s.At = t0.Add(step.after)
		if _, err := e.Score(ctx, s); err != nil {
			t.Fatal(err)
		}
		if st.observes != step.writes {
			t.Fatalf("%s: %d writes, want %d", step.name, st.observes, step.writes)
		}
	}
}
