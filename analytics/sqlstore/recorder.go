// Package sqlstore writes the risk engine's events to SQL (table risk_events, migration
// 00023), on PostgreSQL or SQLite. Recorder is the analytics.Recorder of a node: Record
// puts the event in a bounded buffer and returns at once; a background writer inserts
// the buffer in batches. A full buffer drops the event and a failed batch loses its
// events, both counted: a decision never waits for, or fails because of, the database.
//
// It takes the database as DB (identity/sqlstore's *DB satisfies it), so that
// analytics imports no other domain.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/migrations"
)

// DB is the database handle: *identity/sqlstore.DB.
type DB interface {
	SQL() *sql.DB
	Dialect() migrations.Dialect
}

// Options tune the recorder. Zero fields take their defaults.
type Options struct {
	Buffer     int           // events held for writing (default 8192)
	Batch      int           // events per INSERT (default 256)
	FlushEvery time.Duration // the longest an event waits in a partial batch (default 1s)
	Timeout    time.Duration // bound on one batch's INSERT (default 5s)
}

// Stats are the recorder's counters, for metrics.
type Stats struct {
	Recorded uint64 // events taken into the buffer
	Written  uint64 // events inserted
	Dropped  uint64 // events refused because the buffer was full (or after Close)
	Failed   uint64 // events lost with a batch whose INSERT failed
	Batches  uint64 // successful INSERTs
}

// Recorder implements analytics.Recorder over SQL.
type Recorder struct {
	db  *sql.DB
	o   Options
	in  chan analytics.Event
	mu  sync.RWMutex // held for reading by Record, for writing by Close
	end bool
	wg  sync.WaitGroup

	recorded, written, dropped, failed, batches atomic.Uint64
	lastErr                                     atomic.Pointer[string]
}

var _ analytics.Recorder = (*Recorder)(nil)

// NewRecorder starts the writer; Close stops it.
func NewRecorder(db DB, o Options) (*Recorder, error) {
	if db == nil || db.SQL() == nil {
		return nil, errors.New("analytics sqlstore: no database")
	}
	if d := db.Dialect(); d != migrations.Postgres && d != migrations.SQLite {
		return nil, fmt.Errorf("analytics sqlstore: unknown dialect %q", d)
	}
	if o.Buffer <= 0 {
		o.Buffer = 8192
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	r := &Recorder{db: db.SQL(), o: o, in: make(chan analytics.Event, o.Buffer)}
	r.wg.Add(1)
	go r.run()
	return r, nil
}

// Record implements analytics.Recorder: it never blocks.
func (r *Recorder) Record(e analytics.Event) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.end {
		r.dropped.Add(1)
		return
	}
	select {
	case r.in <- e:
		r.recorded.Add(1)
	default:
		r.dropped.Add(1)
	}
}

// Close writes what is buffered and stops the writer. Events recorded afterwards are
// dropped.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.end {
		r.end = true
		close(r.in)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	return Stats{Recorded: r.recorded.Load(), Written: r.written.Load(), Dropped: r.dropped.Load(),
		Failed: r.failed.Load(), Batches: r.batches.Load()}
}

// LastError is the last failed batch's error, empty when none failed.
func (r *Recorder) LastError() string {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (r *Recorder) run() {
	defer r.wg.Done()
	batch := make([]analytics.Event, 0, r.o.Batch)
	t := time.NewTicker(r.o.FlushEvery)
	defer t.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
		err := r.insert(ctx, batch)
		cancel()
		if err != nil {
			r.failed.Add(uint64(len(batch)))
			msg := err.Error()
			r.lastErr.Store(&msg)
		} else {
			r.written.Add(uint64(len(batch)))
			r.batches.Add(1)
		}
		batch = batch[:0]
	}
	for {
		select {
		case e, ok := <-r.in:
			if !ok {
				flush()
				return
			}
			batch = append(batch, e)
			if len(batch) == r.o.Batch {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

const inserted = 16 // columns per row (id is generated)

// maxUserAgent bounds a stored user agent: it is the caller's to choose.
const maxUserAgent = 512

func (r *Recorder) insert(ctx context.Context, batch []analytics.Event) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO risk_events (at, subject, subject_kind, client_id, session_id, action, ip, user_agent,
		device_id, country, network, score, level, reasons, allowed, outcomes) VALUES `)
	args := make([]any, 0, len(batch)*inserted)
	for i, e := range batch {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range inserted {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteString("$" + strconv.Itoa(len(args)+c+1))
		}
		q.WriteByte(')')
		reasons, err := json.Marshal(orEmpty(e.Risk.Reasons))
		if err != nil {
			return fmt.Errorf("encode reasons: %w", err)
		}
		outcomes, err := json.Marshal(orEmpty(e.Outcomes))
		if err != nil {
			return fmt.Errorf("encode outcomes: %w", err)
		}
		at := e.At
		if at.IsZero() {
			at = time.Now()
		}
		level := e.Risk.Level
		if level == "" {
			level = analytics.LevelNone
		}
		args = append(args, at.UTC(), e.Subject, e.SubjectKind, e.ClientID, e.SessionID, e.Action, e.IP,
			clip(e.UserAgent, maxUserAgent), e.DeviceID, e.Country, e.Network, e.Risk.Score, string(level),
			string(reasons), e.Allowed, string(outcomes))
	}
	if _, err := r.db.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert %d risk events: %w", len(batch), err)
	}
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// Filter selects events for List. Zero fields do not filter; Limit defaults to 100
// and is capped at 1000.
type Filter struct {
	Subject string
	Since   time.Time
	Until   time.Time
	Limit   int
}

// Listed is a stored event with its id.
type Listed struct {
	ID int64
	analytics.Event
}

// List returns stored events, newest first.
func (r *Recorder) List(ctx context.Context, f Filter) ([]Listed, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	if f.Subject != "" {
		args = append(args, f.Subject)
		where = append(where, "subject = $"+strconv.Itoa(len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UTC())
		where = append(where, "at >= $"+strconv.Itoa(len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.UTC())
		where = append(where, "at < $"+strconv.Itoa(len(args)))
	}
	q := `SELECT id, at, subject, subject_kind, client_id, session_id, action, ip, user_agent, device_id, country,
		network, score, level, reasons, allowed, outcomes FROM risk_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list risk events: %w", err)
	}
	defer rows.Close()
	var out []Listed
	for rows.Next() {
		var (
			l                 Listed
			level             string
			reasons, outcomes string
		)
		e := &l.Event
		if err := rows.Scan(&l.ID, &e.At, &e.Subject, &e.SubjectKind, &e.ClientID, &e.SessionID, &e.Action, &e.IP,
			&e.UserAgent, &e.DeviceID, &e.Country, &e.Network, &e.Risk.Score, &level, &reasons, &e.Allowed, &outcomes); err != nil {
			return nil, fmt.Errorf("list risk events: %w", err)
		}
		e.At = e.At.UTC()
		e.Risk.Level = analytics.Level(level)
		if err := json.Unmarshal([]byte(reasons), &e.Risk.Reasons); err != nil {
			return nil, fmt.Errorf("risk event %d: reasons: %w", l.ID, err)
		}
		if err := json.Unmarshal([]byte(outcomes), &e.Outcomes); err != nil {
			return nil, fmt.Errorf("risk event %d: outcomes: %w", l.ID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
