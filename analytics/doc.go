// Package analytics is Weft's risk engine: the Signal a request gives, the Risk score
// (0 to 100, a level and reasons) a Scorer makes of it, and the Event a Recorder takes
// off the hot path. access/gate consults the Scorer on every introspection and
// bearer-protected call. It imports no other Weft domain.
//
// The Engine is the Scorer. Per request it locates the address (a Locator, in
// analytics/geoip), reads what State remembers in one call (analytics/memstore in the
// process, analytics/redisstore shared by every node), runs the Detectors (new device,
// new network, impossible travel, session drift, threat intelligence from
// analytics/threatintel, failed-login velocity, standing risk), combines their findings
// into a saturating score with reasons, and records the request in the baselines. It
// also takes incoming signals (RaiseSubjectRisk) and failed logins
// (RecordLoginFailure).
//
// The hot path touches no SQL; with Redis it makes one pipelined round trip (the read)
// and queues its writes (Config.WriteBehind). A state that cannot be read never fails
// a decision: the request is scored on what it shows alone, and the failure counted.
package analytics
