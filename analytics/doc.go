// Package analytics will hold the risk engine (signals, detectors, scores with reasons)
// and the event pipeline behind the dashboards. It imports no other Weft domain.
package analytics
