package outbox

import "time"

// SetClock replaces the worker's clock (tests step through backoff without waiting).
func SetClock(w *Worker, now func() time.Time) { w.now = now }
