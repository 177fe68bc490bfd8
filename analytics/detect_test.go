package analytics_test

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
)

var (
	t0     = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	berlin = analytics.Location{Country: "DE", City: "2950159", Network: "AS64500", Lat: 52.52, Lon: 13.405, AccuracyKM: 20, Located: true}
	potsd  = analytics.Location{Country: "DE", City: "2852458", Network: "AS64500", Lat: 52.3906, Lon: 13.0645, AccuracyKM: 20, Located: true}
	newYrk = analytics.Location{Country: "US", City: "5128581", Network: "AS64501", Lat: 40.7128, Lon: -74.006, AccuracyKM: 50, Located: true}
)

func placeOf(l analytics.Location, at time.Time) analytics.Place {
	return analytics.Place{Lat: l.Lat, Lon: l.Lon, AccuracyKM: l.AccuracyKM, Country: l.Country, City: l.City, At: at}
}

// detectCase is one input to one detector and what it must find.
type detectCase struct {
	name  string
	in    analytics.Input
	score float64 // 0: nothing found
	msg   string  // a substring of the message
}

func runDetector(t *testing.T, d analytics.Detector, code string, cases []detectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Now.IsZero() {
				in.Now = in.At
			}
			f, ok := d.Detect(&in)
			if tc.score == 0 {
				if ok {
					t.Fatalf("found %+v, want nothing", f)
				}
				return
			}
			if !ok || math.Abs(f.Score-tc.score) > 0.01 || f.Reason.Code != code || !strings.Contains(f.Reason.Message, tc.msg) {
				t.Fatalf("found %+v (%v), want score %v, code %s, message with %q", f, ok, tc.score, code, tc.msg)
			}
		})
	}
}

func sig(subject, device string, loc analytics.Location, at time.Time) analytics.Signal {
	return analytics.Signal{Subject: subject, DeviceID: device, Location: loc, At: at}
}

func TestNewDevice(t *testing.T) {
	seen := analytics.Snapshot{Subject: analytics.SubjectView{Seen: true}}
	known := analytics.Snapshot{Subject: analytics.SubjectView{Seen: true, DeviceKnown: true}}
	runDetector(t, analytics.NewDevice{}, analytics.CodeNewDevice, []detectCase{
		{name: "unknown device of a known subject", in: analytics.Input{Signal: sig("u", "d2", berlin, t0), Snapshot: seen, Stateful: true}, score: 25, msg: "device"},
		{name: "known device", in: analytics.Input{Signal: sig("u", "d1", berlin, t0), Snapshot: known, Stateful: true}},
		{name: "first request of a subject", in: analytics.Input{Signal: sig("u", "d1", berlin, t0), Stateful: true}},
		{name: "no device id", in: analytics.Input{Signal: sig("u", "", berlin, t0), Snapshot: seen, Stateful: true}},
		{name: "state unavailable", in: analytics.Input{Signal: sig("u", "d2", berlin, t0), Snapshot: seen}},
	})
	runDetector(t, analytics.NewDevice{Weight: 33}, analytics.CodeNewDevice, []detectCase{
		{name: "configured weight", in: analytics.Input{Signal: sig("u", "d2", berlin, t0), Snapshot: seen, Stateful: true}, score: 33},
	})
}

func TestNewNetwork(t *testing.T) {
	seen := analytics.Snapshot{Subject: analytics.SubjectView{Seen: true}}
	known := analytics.Snapshot{Subject: analytics.SubjectView{Seen: true, NetworkKnown: true}}
	runDetector(t, analytics.NewNetwork{}, analytics.CodeNewNetwork, []detectCase{
		{name: "unknown network", in: analytics.Input{Signal: sig("u", "d", newYrk, t0), Snapshot: seen, Stateful: true}, score: 15, msg: "AS64501"},
		{name: "known network", in: analytics.Input{Signal: sig("u", "d", berlin, t0), Snapshot: known, Stateful: true}},
		{name: "first request", in: analytics.Input{Signal: sig("u", "d", berlin, t0), Stateful: true}},
		{name: "no network", in: analytics.Input{Signal: sig("u", "d", analytics.Location{}, t0), Snapshot: seen, Stateful: true}},
	})
}

func TestImpossibleTravel(t *testing.T) {
	last := func(l analytics.Location, at time.Time) analytics.Snapshot {
		return analytics.Snapshot{Subject: analytics.SubjectView{Seen: true, Last: placeOf(l, at), HasLast: true}}
	}
	sameCityFar := berlin
	sameCityFar.Lat, sameCityFar.Lon = 48.0, 11.0 // one city id, coordinates that moved (a database update)
	runDetector(t, analytics.ImpossibleTravel{}, analytics.CodeImpossibleTravel, []detectCase{
		// ~6,385 km in ten minutes.
		{name: "Berlin to New York in ten minutes", in: analytics.Input{Signal: sig("u", "d", newYrk, t0.Add(10*time.Minute)),
			Snapshot: last(berlin, t0), Stateful: true}, score: 70, msg: "from DE to US in 10m0s"},
		{name: "Berlin to New York in ten hours", in: analytics.Input{Signal: sig("u", "d", newYrk, t0.Add(10*time.Hour)),
			Snapshot: last(berlin, t0), Stateful: true}},
		{name: "out of order: the later event was recorded first", in: analytics.Input{Signal: sig("u", "d", newYrk, t0),
			Snapshot: last(berlin, t0.Add(10*time.Minute)), Stateful: true}, score: 70},
		{name: "simultaneous", in: analytics.Input{Signal: sig("u", "d", newYrk, t0), Snapshot: last(berlin, t0), Stateful: true}, score: 70},
		{name: "Berlin to Potsdam (27 km) in a minute: too close to tell", in: analytics.Input{Signal: sig("u", "d", potsd, t0.Add(time.Minute)),
			Snapshot: last(berlin, t0), Stateful: true}},
		{name: "same city", in: analytics.Input{Signal: sig("u", "d", sameCityFar, t0.Add(time.Minute)), Snapshot: last(berlin, t0), Stateful: true}},
		{name: "not located", in: analytics.Input{Signal: sig("u", "d", analytics.Location{Country: "US"}, t0.Add(time.Minute)),
			Snapshot: last(berlin, t0), Stateful: true}},
		{name: "no earlier place", in: analytics.Input{Signal: sig("u", "d", newYrk, t0), Snapshot: analytics.Snapshot{Subject: analytics.SubjectView{Seen: true}}, Stateful: true}},
	})
	// A slower limit flags the ten-hour trip (638 km/h); a wide minimum hides a short one.
	runDetector(t, analytics.ImpossibleTravel{MaxKMH: 500, Weight: 90}, analytics.CodeImpossibleTravel, []detectCase{
		{name: "ten hours over a 500 km/h limit", in: analytics.Input{Signal: sig("u", "d", newYrk, t0.Add(10*time.Hour)),
			Snapshot: last(berlin, t0), Stateful: true}, score: 90, msg: "km/h"},
	})
	runDetector(t, analytics.ImpossibleTravel{MinKM: 10000}, analytics.CodeImpossibleTravel, []detectCase{
		{name: "under a wide minimum", in: analytics.Input{Signal: sig("u", "d", newYrk, t0.Add(time.Minute)), Snapshot: last(berlin, t0), Stateful: true}},
	})
}

func TestDistanceKM(t *testing.T) {
	tests := []struct {
		name               string
		lat1, lon1, la, lo float64
		want               float64
	}{
		{"Berlin-New York", 52.52, 13.405, 40.7128, -74.006, 6385},
		{"London-Paris", 51.5074, -0.1278, 48.8566, 2.3522, 344},
		{"antipodes", 0, 0, 0, 180, 20015},
		{"same point", 10, 10, 10, 10, 0},
	}
	for _, tc := range tests {
		if got := analytics.DistanceKM(tc.lat1, tc.lon1, tc.la, tc.lo); math.Abs(got-tc.want) > 5 {
			t.Errorf("%s: %.0f km, want %.0f", tc.name, got, tc.want)
		}
	}
}

func TestSessionDrift(t *testing.T) {
	first := analytics.Snapshot{Session: analytics.SessionView{Seen: true, Country: "DE", Network: "AS64500", DeviceID: "d1", At: t0}}
	withSession := func(l analytics.Location, device string) analytics.Signal {
		s := sig("u", device, l, t0.Add(time.Hour))
		s.SessionID = "s1"
		return s
	}
	samecountry := berlin
	samecountry.Network = "AS64999"
	runDetector(t, analytics.SessionDrift{}, analytics.CodeSessionDrift, []detectCase{
		{name: "same everything", in: analytics.Input{Signal: withSession(berlin, "d1"), Snapshot: first, Stateful: true}},
		{name: "another country and network", in: analytics.Input{Signal: withSession(newYrk, "d1"), Snapshot: first, Stateful: true},
			score: 70, msg: "country US (began in DE), network AS64501 (began on AS64500)"},
		{name: "another network only", in: analytics.Input{Signal: withSession(samecountry, "d1"), Snapshot: first, Stateful: true}, score: 20, msg: "network AS64999"},
		{name: "another device", in: analytics.Input{Signal: withSession(berlin, "d2"), Snapshot: first, Stateful: true}, score: 60, msg: "another device"},
		{name: "everything else: capped", in: analytics.Input{Signal: withSession(newYrk, "d2"), Snapshot: first, Stateful: true}, score: 100},
		{name: "unknown values are not compared", in: analytics.Input{Signal: withSession(analytics.Location{}, ""), Snapshot: first, Stateful: true}},
		{name: "session without a baseline", in: analytics.Input{Signal: withSession(newYrk, "d2"), Stateful: true}},
		{name: "no session", in: analytics.Input{Signal: sig("u", "d2", newYrk, t0), Snapshot: first, Stateful: true}},
	})
}

type lists map[string]string

func (l lists) Listed(ip netip.Addr) (string, bool) {
	name, ok := l[ip.String()]
	return name, ok
}

func TestThreatIntel(t *testing.T) {
	d := analytics.ThreatIntel{Lists: lists{"198.51.100.1": "cert-feed"}}
	runDetector(t, d, analytics.CodeThreatIntel, []detectCase{
		{name: "listed", in: analytics.Input{Addr: netip.MustParseAddr("198.51.100.1")}, score: 80, msg: `"cert-feed"`},
		{name: "not listed", in: analytics.Input{Addr: netip.MustParseAddr("198.51.100.2")}},
		{name: "no address", in: analytics.Input{}},
	})
	runDetector(t, analytics.ThreatIntel{}, analytics.CodeThreatIntel, []detectCase{
		{name: "no lists configured", in: analytics.Input{Addr: netip.MustParseAddr("198.51.100.1")}},
	})
}

func TestLoginVelocity(t *testing.T) {
	fails := func(user, ip int) analytics.Snapshot { return analytics.Snapshot{UserFailures: user, IPFailures: ip} }
	runDetector(t, analytics.LoginVelocity{}, analytics.CodeLoginVelocity, []detectCase{
		{name: "below both limits", in: analytics.Input{Snapshot: fails(4, 19), Stateful: true}},
		{name: "user at the limit", in: analytics.Input{Snapshot: fails(5, 0), Stateful: true}, score: 40, msg: "5 for this user"},
		{name: "user at twice the limit", in: analytics.Input{Snapshot: fails(10, 0), Stateful: true}, score: 60},
		{name: "address at the limit", in: analytics.Input{Snapshot: fails(0, 20), Stateful: true}, score: 40, msg: "20 from this address"},
		{name: "both far over", in: analytics.Input{Snapshot: fails(50, 500), Stateful: true}, score: 100},
		{name: "state unavailable", in: analytics.Input{Snapshot: fails(50, 500)}},
	})
	runDetector(t, analytics.LoginVelocity{UserLimit: 2, IPLimit: 3, Weight: 10}, analytics.CodeLoginVelocity, []detectCase{
		{name: "configured limits", in: analytics.Input{Snapshot: fails(2, 3), Stateful: true}, score: 20},
	})
}

func TestStandingRisk(t *testing.T) {
	standing := func(score float64, at time.Time) analytics.Snapshot {
		return analytics.Snapshot{Standing: analytics.Standing{Score: score, At: at, Reason: analytics.Reason{Code: "device_compromised", Message: "A device was reported compromised."}}}
	}
	runDetector(t, analytics.StandingRisk{HalfLife: time.Hour}, analytics.CodeStandingRisk, []detectCase{
		{name: "fresh", in: analytics.Input{Signal: analytics.Signal{At: t0}, Snapshot: standing(80, t0), Stateful: true}, score: 80, msg: "device was reported compromised"},
		{name: "one half-life later", in: analytics.Input{Signal: analytics.Signal{At: t0}, Now: t0.Add(time.Hour), Snapshot: standing(80, t0), Stateful: true}, score: 40},
		{name: "decayed below 1", in: analytics.Input{Signal: analytics.Signal{At: t0}, Now: t0.Add(10 * time.Hour), Snapshot: standing(80, t0), Stateful: true}},
		{name: "none", in: analytics.Input{Signal: analytics.Signal{At: t0}, Stateful: true}},
	})
}

func TestDecay(t *testing.T) {
	tests := []struct {
		score            float64
		elapsed, halfLif time.Duration
		want             float64
	}{
		{80, 0, time.Hour, 80},
		{80, time.Hour, time.Hour, 40},
		{80, 3 * time.Hour, time.Hour, 10},
		{80, -time.Hour, time.Hour, 80}, // a clock behind: no growth
		{80, time.Hour, 0, 80},
		{-5, time.Hour, time.Hour, 0},
	}
	for _, tc := range tests {
		if got := analytics.Decay(tc.score, tc.elapsed, tc.halfLif); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Decay(%v, %v, %v) = %v, want %v", tc.score, tc.elapsed, tc.halfLif, got, tc.want)
		}
	}
}
