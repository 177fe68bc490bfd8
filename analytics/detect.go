package analytics

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Stable reason codes of the detectors: policies and dashboards match on them.
const (
	CodeNewDevice        = "new_device"
	CodeNewNetwork       = "new_network"
	CodeImpossibleTravel = "impossible_travel"
	CodeSessionDrift     = "session_drift"
	CodeThreatIntel      = "threat_intel"
	CodeLoginVelocity    = "login_velocity"
	CodeStandingRisk     = "standing_risk"
)

// Input is one request as the detectors see it: the signal (located), its parsed
// address, what the state knew before it, and the time of the decision.
type Input struct {
	Signal
	Addr     netip.Addr // invalid when the signal's IP is empty or not an address
	Snapshot Snapshot
	// Stateful is false when the state could not be read: detectors that compare
	// against it stay quiet rather than treat every device as new.
	Stateful bool
	Now      time.Time
}

// Finding is one detector's contribution: a score from 0 to 100 and the reason.
type Finding struct {
	Score  float64
	Reason Reason
}

// Detector looks at one request for one kind of risk. Detect is pure and cheap: the
// Engine has read the state already.
type Detector interface {
	Detect(in *Input) (Finding, bool)
}

// NewDevice flags a device the subject has not used before. A subject with no
// baseline yet (its first request) and a request without a device id are not flagged.
type NewDevice struct {
	Weight float64 // default 25
}

// Detect implements Detector.
func (d NewDevice) Detect(in *Input) (Finding, bool) {
	if !in.Stateful || in.DeviceID == "" || !in.Snapshot.Subject.Seen || in.Snapshot.Subject.DeviceKnown {
		return Finding{}, false
	}
	return Finding{Score: or(d.Weight, 25), Reason: Reason{Code: CodeNewDevice,
		Message: "The request comes from a device this subject has not used before."}}, true
}

// NewNetwork flags a network (an AS, or an address block when no ASN is known) the
// subject has not used before, under the same rules as NewDevice.
type NewNetwork struct {
	Weight float64 // default 15
}

// Detect implements Detector.
func (d NewNetwork) Detect(in *Input) (Finding, bool) {
	if !in.Stateful || in.Network == "" || !in.Snapshot.Subject.Seen || in.Snapshot.Subject.NetworkKnown {
		return Finding{}, false
	}
	return Finding{Score: or(d.Weight, 15), Reason: Reason{Code: CodeNewNetwork,
		Message: fmt.Sprintf("The request comes from a network (%s) this subject has not used before.", in.Network)}}, true
}

// ImpossibleTravel flags two consecutive located events of one subject that no
// airliner could connect: the great-circle distance over the time between them is
// above MaxKMH. Events in one city, or closer than MinKM plus both places' accuracy
// radius, are never travel: GeoIP is approximate.
type ImpossibleTravel struct {
	MaxKMH float64 // default 900 (a jet's cruising speed)
	MinKM  float64 // default 50
	Weight float64 // default 70
}

// Detect implements Detector.
func (d ImpossibleTravel) Detect(in *Input) (Finding, bool) {
	last := in.Snapshot.Subject.Last
	if !in.Stateful || !in.Located || !in.Snapshot.Subject.HasLast {
		return Finding{}, false
	}
	if in.City != "" && in.City == last.City {
		return Finding{}, false
	}
	km := DistanceKM(last.Lat, last.Lon, in.Lat, in.Lon)
	if km <= or(d.MinKM, 50)+float64(last.AccuracyKM)+float64(in.AccuracyKM) {
		return Finding{}, false
	}
	elapsed := in.At.Sub(last.At)
	if elapsed < 0 {
		elapsed = -elapsed // another node recorded a later event first
	}
	hours := max(elapsed.Hours(), 1.0/3600) // simultaneous events: a second apart
	speed := km / hours
	if speed <= or(d.MaxKMH, 900) {
		return Finding{}, false
	}
	return Finding{Score: or(d.Weight, 70), Reason: Reason{Code: CodeImpossibleTravel,
		Message: fmt.Sprintf("%.0f km from %s to %s in %s: %.0f km/h.", km, placeName(last.Country), placeName(in.Country),
			elapsed.Round(time.Second), speed)}}, true
}

func placeName(country string) string {
	if country == "" {
		return "an unknown country"
	}
	return country
}

// SessionDrift flags a session used from a country, network or device other than the
// one it was first seen with: a stolen token replayed elsewhere. A value that either
// side does not know is not compared. The finding's score is the sum of the weights
// of what drifted.
type SessionDrift struct {
	CountryWeight float64 // default 50
	NetworkWeight float64 // default 20
	DeviceWeight  float64 // default 60
}

// Detect implements Detector.
func (d SessionDrift) Detect(in *Input) (Finding, bool) {
	first := in.Snapshot.Session
	if !in.Stateful || in.SessionID == "" || !first.Seen {
		return Finding{}, false
	}
	var score float64
	var what []string
	if first.Country != "" && in.Country != "" && first.Country != in.Country {
		score += or(d.CountryWeight, 50)
		what = append(what, fmt.Sprintf("country %s (began in %s)", in.Country, first.Country))
	}
	if first.Network != "" && in.Network != "" && first.Network != in.Network {
		score += or(d.NetworkWeight, 20)
		what = append(what, fmt.Sprintf("network %s (began on %s)", in.Network, first.Network))
	}
	if first.DeviceID != "" && in.DeviceID != "" && first.DeviceID != in.DeviceID {
		score += or(d.DeviceWeight, 60)
		what = append(what, "another device")
	}
	if len(what) == 0 {
		return Finding{}, false
	}
	return Finding{Score: min(score, 100), Reason: Reason{Code: CodeSessionDrift,
		Message: "The session is used from " + strings.Join(what, ", ") + "."}}, true
}

// ThreatList answers whether an address is on a threat-intelligence list;
// *threatintel.Feeds implements it.
type ThreatList interface {
	// Listed returns the name of a list the address is on.
	Listed(ip netip.Addr) (list string, ok bool)
}

// ThreatIntel flags an address on a threat-intelligence list.
type ThreatIntel struct {
	Lists  ThreatList
	Weight float64 // default 80
}

// Detect implements Detector.
func (d ThreatIntel) Detect(in *Input) (Finding, bool) {
	if d.Lists == nil || !in.Addr.IsValid() {
		return Finding{}, false
	}
	list, ok := d.Lists.Listed(in.Addr)
	if !ok {
		return Finding{}, false
	}
	return Finding{Score: or(d.Weight, 80), Reason: Reason{Code: CodeThreatIntel,
		Message: fmt.Sprintf("The address is on the threat list %q.", list)}}, true
}

// LoginVelocity flags a user, or an address, with many failed logins in the Engine's
// failure window: password guessing or credential stuffing. Reaching a limit scores
// the weight; twice the limit or more scores half as much again.
type LoginVelocity struct {
	UserLimit int     // default 5
	IPLimit   int     // default 20
	Weight    float64 // default 40, for each of user and address
}

// Detect implements Detector.
func (d LoginVelocity) Detect(in *Input) (Finding, bool) {
	if !in.Stateful {
		return Finding{}, false
	}
	w := or(d.Weight, 40)
	var score float64
	var what []string
	if n, limit := in.Snapshot.UserFailures, orInt(d.UserLimit, 5); n >= limit {
		score += velocity(w, n, limit)
		what = append(what, fmt.Sprintf("%d for this user", n))
	}
	if n, limit := in.Snapshot.IPFailures, orInt(d.IPLimit, 20); n >= limit {
		score += velocity(w, n, limit)
		what = append(what, fmt.Sprintf("%d from this address", n))
	}
	if len(what) == 0 {
		return Finding{}, false
	}
	return Finding{Score: min(score, 100), Reason: Reason{Code: CodeLoginVelocity,
		Message: "Recent failed logins: " + strings.Join(what, ", ") + "."}}, true
}

func velocity(w float64, n, limit int) float64 {
	if n >= 2*limit {
		return w * 1.5
	}
	return w
}

// StandingRisk carries the subject's standing risk (raised by incoming signals and by
// earlier findings, decaying with HalfLife) into every score. Below 1 it is silent.
type StandingRisk struct {
	HalfLife time.Duration // default 6h
}

// Detect implements Detector.
func (d StandingRisk) Detect(in *Input) (Finding, bool) {
	if !in.Stateful {
		return Finding{}, false
	}
	s := in.Snapshot.Standing.Decayed(in.Now, orDur(d.HalfLife, 6*time.Hour))
	if s < 1 {
		return Finding{}, false
	}
	msg := "The subject carries standing risk from earlier signals."
	if m := in.Snapshot.Standing.Reason.Message; m != "" {
		msg = "The subject carries standing risk: " + m
	}
	return Finding{Score: min(s, 100), Reason: Reason{Code: CodeStandingRisk, Message: msg}}, true
}

// DistanceKM is the great-circle distance between two points (haversine, mean Earth
// radius 6371 km).
func DistanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Sqrt(min(a, 1)))
}

func or(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}
