// Package analytics is Weft's risk engine: the Signal a request gives, the Risk score
// (0 to 100, a level and reasons) a Scorer makes of it, and the Event a Recorder takes
// off the hot path. access/gate consults the Scorer on every introspection and
// bearer-protected call. Today the only Scorer is NoRisk and the only Recorder is
// Discard; the detectors (new device, impossible travel, threat feeds, failed-login
// velocity) come with the adaptive-access issue and implement the same interfaces. It
// imports no other Weft domain.
package analytics
