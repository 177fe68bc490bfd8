package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
)

// AuditEntry is one line of the append-only audit log: admin changes, security events,
// revocations and deliveries. Entries are chained: each Hash is a MAC, under a key
// derived from the key-encryption key, over the entry and the previous entry's Hash, so
// altering, removing or reordering any line breaks every link after it, and someone who
// can write the database but does not hold the key cannot compute new links. Entries
// written before the chain was keyed (legacy) carry a plain SHA-256 instead; a keyed
// checkpoint says where they end.
type AuditEntry struct {
	Seq     int64
	At      time.Time
	Kind    string         // e.g. "admin.change", "security.refresh_token_reuse"
	Actor   string         // who did it: a user id, a client id, "cli", "system"
	Subject string         // what it concerns, if one thing
	Detail  map[string]any // small, never secret
	// RawDetail is Detail's JSON exactly as stored. The link covers these bytes, not a
	// re-encoding, so what a SQL query or a SIEM reads from the row is what was verified.
	RawDetail string `json:"-"`
	PrevHash  string
	Hash      string
}

// AuditCheckpoint vouches, under the checkpoint key, that the chain held entry Seq
// with link Head at time At, and that the entries up to LegacyUntil were written
// before the chain was keyed. Checkpoints are stored beside the entries, written to
// an AuditAnchor outside the database and logged, so that removing the newest
// entries (which leaves a shorter, valid chain) shows against any copy kept elsewhere.
type AuditCheckpoint struct {
	ID          int64     `json:"-"` // the store's order
	Seq         int64     `json:"seq"`
	Head        string    `json:"head"`
	LegacyUntil int64     `json:"legacy_until"`
	At          time.Time `json:"at"`
	Node        string    `json:"node"`
	MAC         string    `json:"mac"`
	// Source names where it was read, in reports ("database", a file); not covered.
	Source string `json:"-"`
}

// AuditStore persists the chain. Implementations never update or delete entries or
// checkpoints.
type AuditStore interface {
	// LastAudit returns the newest entry; ErrNotFound on an empty log.
	LastAudit(ctx context.Context) (AuditEntry, error)
	// AppendAudit stores e, with e.RawDetail as its detail verbatim; ErrConflict if
	// its Seq is taken.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// AuditAfter returns up to limit entries with Seq > after, in Seq order, each with
	// RawDetail as stored.
	AuditAfter(ctx context.Context, after int64, limit int) ([]AuditEntry, error)
	// AppendAuditCheckpoint stores c (the store assigns its ID).
	AppendAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error
	// AuditCheckpoints returns up to limit checkpoints with ID > after, in ID order.
	AuditCheckpoints(ctx context.Context, after int64, limit int) ([]AuditCheckpoint, error)
}

// AuditAnchor keeps the newest checkpoint outside the database (AuditHeadFile).
type AuditAnchor interface {
	// Load returns the checkpoint kept; ok is false when there is none yet.
	Load() (c AuditCheckpoint, ok bool, err error)
	// Store replaces it.
	Store(c AuditCheckpoint) error
	// String names it in reports and logs.
	String() string
}

// AuditKeys are the keys of the keyed chain, derived from the key-encryption key
// (keys.AuditKeys), which the database does not hold. Each is 32 bytes.
type AuditKeys struct {
	Chain      []byte // HMAC-SHA256 of each entry's link
	Checkpoint []byte // HMAC-SHA256 of checkpoints
}

// AuditConfig configures an AuditLog.
type AuditConfig struct {
	Keys AuditKeys
	// CheckpointEvery: a checkpoint is written with every entry whose Seq is a multiple
	// of it; 0 means DefaultCheckpointEvery.
	CheckpointEvery int64
	// Anchor, if set, receives each checkpoint this process writes (and Verify reads it).
	Anchor AuditAnchor
	// Node names this process in its checkpoints.
	Node string
	// Logger, if set, logs each checkpoint: one more copy outside the database, for
	// whoever ships the logs to a SIEM.
	Logger *slog.Logger
}

// DefaultCheckpointEvery is how many entries pass between two checkpoints written by
// Record. Periodic checkpoints (RunCheckpoints) cover quiet times.
const DefaultCheckpointEvery = 100

// auditLock serialises writers of the chain across nodes.
const auditLock = "weft.audit"

// AuditLog records and verifies the chain.
type AuditLog struct {
	store AuditStore
	tx    Transactor
	cfg   AuditConfig
	now   func() time.Time

	mu          sync.Mutex
	sealed      bool  // a checkpoint exists: legacyUntil is known
	legacyUntil int64 // the last keyless entry (0: none)
	newest      int64 // Seq of the newest checkpoint this process wrote

	anchorMu    sync.Mutex // one anchor update at a time
	anchorStale string     // the anchor problem last logged, so it is logged once
}

// NewAuditLog builds the service. Both keys are required: without them the chain
// would be a plain hash anyone can recompute.
func NewAuditLog(store AuditStore, tx Transactor, cfg AuditConfig) (*AuditLog, error) {
	switch {
	case store == nil || tx == nil:
		return nil, errors.New("audit log: store and transactor are required")
	case len(cfg.Keys.Chain) < 32 || len(cfg.Keys.Checkpoint) < 32:
		return nil, errors.New("audit log: the chain and checkpoint keys (32 bytes, derived from the key-encryption key) are required")
	case bytes.Equal(cfg.Keys.Chain, cfg.Keys.Checkpoint):
		return nil, errors.New("audit log: the chain and checkpoint keys must differ")
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	return &AuditLog{store: store, tx: tx, cfg: cfg, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}, nil
}

// Record appends an entry. A lock serialises writers across nodes, so the chain has
// one order. The first entry a process writes seals the chain if nothing has yet.
func (l *AuditLog) Record(ctx context.Context, kind, actor, subject string, detail map[string]any) error {
	if kind == "" {
		return invalid("kind", "is required")
	}
	raw, err := json.Marshal(detail) // map keys are sorted
	if err != nil {
		return fmt.Errorf("audit detail: %w", err)
	}
	return l.tx.InTx(ctx, func(ctx context.Context) error {
		if err := l.tx.Lock(ctx, auditLock); err != nil {
			return err
		}
		last, err := l.store.LastAudit(ctx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		until, _, err := l.seal(ctx, last)
		if err != nil {
			return err
		}
		e := AuditEntry{Seq: last.Seq + 1, At: l.now(), Kind: kind, Actor: actor, Subject: subject, Detail: detail,
			RawDetail: string(raw), PrevHash: last.Hash}
		e.Hash = l.keyedLink(e)
		if err := l.store.AppendAudit(ctx, e); err != nil {
			return err
		}
		if e.Seq%l.cfg.CheckpointEvery == 0 {
			_, err = l.writeCheckpoint(ctx, e.Seq, e.Hash, until)
		}
		return err
	})
}

// Checkpoint writes a checkpoint of the chain's newest entry now (sealing the chain
// first if nothing has), and hands it to the anchor and the log once committed.
func (l *AuditLog) Checkpoint(ctx context.Context) (AuditCheckpoint, error) {
	var c AuditCheckpoint
	err := l.tx.InTx(ctx, func(ctx context.Context) error {
		if err := l.tx.Lock(ctx, auditLock); err != nil {
			return err
		}
		last, err := l.store.LastAudit(ctx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		until, sealedNow, err := l.seal(ctx, last)
		if err != nil || sealedNow != nil {
			if sealedNow != nil {
				c = *sealedNow // the seal is a checkpoint of this very entry
			}
			return err
		}
		c, err = l.writeCheckpoint(ctx, last.Seq, last.Hash, until)
		return err
	})
	return c, err
}

// seal returns the last keyless entry's Seq. If the chain has no checkpoint yet, it
// writes the first (returned too): the boundary after which every entry must be
// keyed. It runs under the chain lock, in ctx's transaction.
func (l *AuditLog) seal(ctx context.Context, last AuditEntry) (int64, *AuditCheckpoint, error) {
	l.mu.Lock()
	sealed, until := l.sealed, l.legacyUntil
	l.mu.Unlock()
	if sealed {
		return until, nil, nil
	}
	first, err := l.store.AuditCheckpoints(ctx, 0, 1)
	if err != nil {
		return 0, nil, err
	}
	var c *AuditCheckpoint
	switch {
	case len(first) == 1:
		until = first[0].LegacyUntil
	case last.Seq > 0 && last.RawDetail != "" && last.Hash == l.keyedLink(last):
		// Keyed entries but no checkpoint: someone removed them. Sealing again here
		// would declare the keyed entries legacy; Verify reports the removal instead.
		l.logError(ctx, "the audit log has keyed entries but no checkpoint: checkpoints were removed; run weft audit verify",
			"head_seq", last.Seq)
		until = 0
	default:
		until = last.Seq
		w, err := l.writeCheckpoint(ctx, last.Seq, last.Hash, until)
		if err != nil {
			return 0, nil, err
		}
		c = &w
		if l.cfg.Logger != nil {
			l.cfg.Logger.InfoContext(ctx, "audit chain sealed: the entries after this checkpoint are keyed with a key derived from the key-encryption key",
				"legacy_entries", until)
		}
	}
	l.tx.AfterCommit(ctx, func(context.Context) {
		l.mu.Lock()
		l.sealed, l.legacyUntil = true, until
		l.mu.Unlock()
	})
	return until, c, nil
}

// writeCheckpoint stores a checkpoint in ctx's transaction; once that commits, the
// checkpoint goes to the log and the anchor.
func (l *AuditLog) writeCheckpoint(ctx context.Context, seq int64, head string, legacyUntil int64) (AuditCheckpoint, error) {
	c := AuditCheckpoint{Seq: seq, Head: head, LegacyUntil: legacyUntil, At: l.now(), Node: l.cfg.Node}
	c.MAC = l.checkpointMAC(c)
	if err := l.store.AppendAuditCheckpoint(ctx, c); err != nil {
		return c, err
	}
	l.tx.AfterCommit(ctx, func(ctx context.Context) { l.publish(ctx, c) })
	return c, nil
}

// publish logs a committed checkpoint and hands it to the anchor. The anchor keeps the
// highest checkpoint it holds, and is not moved on while the database no longer holds
// the entry it vouches for: that is the evidence of a truncation or rewrite.
func (l *AuditLog) publish(ctx context.Context, c AuditCheckpoint) {
	l.mu.Lock()
	l.newest = max(l.newest, c.Seq)
	l.mu.Unlock()
	if l.cfg.Logger != nil {
		b, _ := json.Marshal(c) // plain fields: cannot fail
		l.cfg.Logger.InfoContext(ctx, "audit checkpoint", "seq", c.Seq, "checkpoint", string(b))
	}
	if l.cfg.Anchor == nil {
		return
	}
	l.anchorMu.Lock()
	defer l.anchorMu.Unlock()
	cur, ok, err := l.cfg.Anchor.Load()
	problem := ""
	switch {
	case err != nil:
		problem = "unreadable: " + err.Error()
	case ok && cur.Seq >= c.Seq:
		return
	case ok:
		problem = l.stillHolds(ctx, cur)
	}
	if problem != "" {
		// Kept as evidence. After a deliberate reset or restore of the database the
		// operator moves the file aside; logged once per process, not every minute.
		if problem != l.anchorStale {
			l.anchorStale = problem
			l.logError(ctx, "the audit log no longer matches the checkpoint kept outside the database, which is left as it is: run weft audit verify",
				"anchor", l.cfg.Anchor.String(), "anchor_seq", cur.Seq, "problem", problem)
		}
		return
	}
	if err := l.cfg.Anchor.Store(c); err != nil {
		l.logError(ctx, "audit checkpoint not written outside the database", "anchor", l.cfg.Anchor.String(), "error", err.Error())
	}
}

// stillHolds checks c against the database: "" when it verifies and the log holds its
// entry with its link, else what is wrong.
func (l *AuditLog) stillHolds(ctx context.Context, c AuditCheckpoint) string {
	if !l.checkpointHolds(c) {
		return "its MAC does not verify"
	}
	if c.Seq == 0 {
		return ""
	}
	es, err := l.store.AuditAfter(ctx, c.Seq-1, 1)
	switch {
	case err != nil:
		return "reading the log: " + err.Error()
	case len(es) == 0 || es[0].Seq != c.Seq:
		return fmt.Sprintf("entry %d is gone", c.Seq)
	case es[0].Hash != c.Head:
		return fmt.Sprintf("entry %d has another link", c.Seq)
	}
	return ""
}

func (l *AuditLog) logError(ctx context.Context, msg string, args ...any) {
	if l.cfg.Logger != nil {
		l.cfg.Logger.ErrorContext(ctx, msg, args...)
	}
}

// RunCheckpoints writes a checkpoint at once, then every interval while the chain has
// grown since this process's newest one, and a last one when ctx ends: so at most an
// interval's entries (or CheckpointEvery of them) follow the newest checkpoint kept
// outside the database. It returns when ctx ends.
func (l *AuditLog) RunCheckpoints(ctx context.Context, interval time.Duration) {
	write := func(ctx context.Context) {
		if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			l.logError(ctx, "audit checkpoint failed", "error", err.Error())
		}
	}
	write(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if l.grown(final) {
				write(final)
			}
			return
		case <-t.C:
			if l.grown(ctx) {
				write(ctx)
			}
		}
	}
}

// grown reports whether the chain has entries after this process's newest checkpoint.
func (l *AuditLog) grown(ctx context.Context) bool {
	last, err := l.store.LastAudit(ctx)
	if err != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return last.Seq > l.newest
}

// keyedLink is the MAC of e under the chain key: HMAC-SHA256 over the entry's fields as
// stored (the raw detail, not a re-encoding) and the previous link.
func (l *AuditLog) keyedLink(e AuditEntry) string {
	m := hmac.New(sha256.New, l.cfg.Keys.Chain)
	writeFields(m, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.Actor, e.Subject, e.RawDetail, e.PrevHash)
	return hex.EncodeToString(m.Sum(nil))
}

// checkpointMAC is the MAC of c under the checkpoint key.
func (l *AuditLog) checkpointMAC(c AuditCheckpoint) string {
	m := hmac.New(sha256.New, l.cfg.Keys.Checkpoint)
	writeFields(m, "weft audit checkpoint", strconv.FormatInt(c.Seq, 10), c.Head, strconv.FormatInt(c.LegacyUntil, 10),
		c.At.UTC().Format(time.RFC3339Nano), c.Node)
	return hex.EncodeToString(m.Sum(nil))
}

// checkpointHolds reports whether c's MAC verifies, in constant time.
func (l *AuditLog) checkpointHolds(c AuditCheckpoint) bool {
	got, err := hex.DecodeString(c.MAC)
	want, _ := hex.DecodeString(l.checkpointMAC(c))
	return err == nil && hmac.Equal(got, want)
}

// writeFields writes each field length-prefixed, so that no two different field
// lists encode alike.
func writeFields(h io.Writer, fields ...string) {
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
}

// LegacyAuditHash is the keyless link of entries written before the chain was keyed:
// SHA-256 over the fields, with the detail in canonical JSON (sorted keys). Anyone can
// compute it, which is why the chain is now keyed; Verify still checks it for the
// entries before the seal.
func LegacyAuditHash(e AuditEntry) (string, error) {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return "", fmt.Errorf("audit detail: %w", err)
	}
	return legacyHash(e, detail), nil
}

func legacyHash(e AuditEntry, detail []byte) string {
	h := sha256.New()
	writeFields(h, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.Actor, e.Subject, string(detail), e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// legacyLink is what a keyless entry's Hash must be, or why its stored detail cannot be
// trusted: the old hash covered a re-encoding of the detail, so the stored text must be
// exactly that encoding (which also excludes a name given twice, where a SQL json
// function and Go would read different values).
func legacyLink(e AuditEntry) (link, problem string) {
	if problem := detailProblem(e.RawDetail); problem != "" {
		return "", problem
	}
	var v any
	_ = json.Unmarshal([]byte(e.RawDetail), &v) // detailProblem checked it parses
	canonical, err := json.Marshal(v)
	if err != nil || string(canonical) != e.RawDetail {
		return "", "its stored detail is not the canonical JSON its hash covers"
	}
	return legacyHash(e, canonical), ""
}

// detailProblem says what is wrong with a stored detail: not JSON, or an object that
// names a member twice (readers disagree on which value counts). "" when it is sound.
func detailProblem(raw string) string {
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	type object struct {
		names map[string]bool
		key   bool // a member name comes next
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !json.Valid([]byte(raw)) {
				return "its detail is not valid JSON"
			}
			return ""
		}
		if err != nil {
			return "its detail is not valid JSON"
		}
		if n := len(stack); n > 0 && stack[n-1].key {
			if name, ok := tok.(string); ok {
				if stack[n-1].names[name] {
					return fmt.Sprintf("its detail names %q twice", name)
				}
				stack[n-1].names[name], stack[n-1].key = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{names: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &object{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].key = true
		}
	}
}

// AuditReport is the outcome of Verify.
type AuditReport struct {
	Entries int64
	Head    string // link of the newest entry
	// Sealed: a checkpoint says where the keyless entries end; LegacyEntries of them
	// precede the keyed chain. A log with entries that is not sealed is not intact.
	Sealed        bool
	LegacyEntries int64
	// Checkpoints is how many the database holds; Newest is the checkpoint with the
	// highest Seq among those and the ones kept elsewhere (zero when there is none).
	Checkpoints int
	Newest      AuditCheckpoint
	BrokenAt    int64 // first entry that fails, 0 when intact or not about one entry
	Problem     string
}

// Intact reports whether the whole chain verified.
func (r AuditReport) Intact() bool { return r.Problem == "" }

func (r *AuditReport) fail(seq int64, problem string) { r.BrokenAt, r.Problem = seq, problem }

// Verify checks the chain from the first entry: every checkpoint's MAC, that they agree
// on where the keyless entries end, each entry's sequence, link and stored detail
// (keyless entries against SHA-256, the rest against the chain key), that each entry a
// checkpoint names still has the link it vouched for, and that the log still reaches
// the newest checkpoint. extra are checkpoints kept elsewhere (a copy from the logs);
// the anchor's is read too. It reports the first problem.
func (l *AuditLog) Verify(ctx context.Context, extra ...AuditCheckpoint) (AuditReport, error) {
	var rep AuditReport
	cps, err := l.checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cps)
	if l.cfg.Anchor != nil {
		c, ok, err := l.cfg.Anchor.Load()
		if err != nil {
			return rep, fmt.Errorf("read the audit checkpoint in %s: %w", l.cfg.Anchor, err)
		}
		if ok {
			c.Source = l.cfg.Anchor.String()
			cps = append(cps, c)
		}
	}
	cps = append(cps, extra...)

	vouched := map[int64]AuditCheckpoint{}
	legacyUntil := int64(-1)
	for _, c := range cps {
		switch {
		case !l.checkpointHolds(c):
			rep.fail(c.Seq, fmt.Sprintf("the checkpoint of entry %d in %s does not verify: forged, or written under another key-encryption key", c.Seq, c.Source))
		case legacyUntil >= 0 && c.LegacyUntil != legacyUntil:
			rep.fail(0, fmt.Sprintf("checkpoints disagree on where the keyed chain starts (after entry %d, or after entry %d in %s): checkpoints were removed and the chain sealed again",
				legacyUntil, c.LegacyUntil, c.Source))
		case vouched[c.Seq].MAC != "" && vouched[c.Seq].Head != c.Head:
			rep.fail(c.Seq, fmt.Sprintf("two checkpoints vouch for different links of entry %d (in %s and %s)", c.Seq, vouched[c.Seq].Source, c.Source))
		}
		if !rep.Intact() {
			return rep, nil
		}
		legacyUntil = c.LegacyUntil
		vouched[c.Seq] = c
		if c.Seq > rep.Newest.Seq || rep.Newest.MAC == "" {
			rep.Newest = c
		}
	}
	if rep.Checkpoints == 0 && len(cps) > 0 {
		rep.fail(0, fmt.Sprintf("the database holds no checkpoint, but %s vouches for entry %d: the checkpoints were removed", cps[0].Source, cps[0].Seq))
		return rep, nil
	}
	rep.Sealed = legacyUntil >= 0
	if !rep.Sealed {
		legacyUntil = math.MaxInt64
	}

	var prev AuditEntry
	for {
		batch, err := l.store.AuditAfter(ctx, prev.Seq, 1000)
		if err != nil {
			return rep, err
		}
		for _, e := range batch {
			if problem := l.entryProblem(e, prev, legacyUntil, rep.Sealed); problem != "" {
				rep.fail(e.Seq, problem)
				if e.Seq != prev.Seq+1 {
					rep.BrokenAt = prev.Seq + 1
				}
				return rep, nil
			}
			if c, ok := vouched[e.Seq]; ok && c.Head != e.Hash {
				rep.fail(e.Seq, fmt.Sprintf("its link differs from the one the checkpoint of %s in %s vouched for", stamp(c.At), c.Source))
				return rep, nil
			}
			if e.Seq <= legacyUntil {
				rep.LegacyEntries++
			}
			rep.Entries, rep.Head, prev = rep.Entries+1, e.Hash, e
		}
		if len(batch) < 1000 {
			break
		}
	}
	if !rep.Sealed && rep.Entries > 0 {
		// Only an upgraded log that no upgraded process has written yet is unsealed
		// (serving or any write seals it); stripping the checkpoints and relinking every
		// entry with the keyless hash leaves the same picture, so it is not "intact".
		rep.fail(0, fmt.Sprintf("no checkpoint vouches for the %d keyless entries: if they were written before the upgrade that keyed the chain, start weft serve once to seal them; otherwise the checkpoints were removed", rep.Entries))
		return rep, nil
	}
	if rep.Newest.MAC != "" && rep.Newest.Seq > prev.Seq {
		rep.fail(prev.Seq+1, fmt.Sprintf("the log ends at entry %d, but the checkpoint of %s in %s vouches for entry %d: entries were removed from the tail",
			prev.Seq, stamp(rep.Newest.At), rep.Newest.Source, rep.Newest.Seq))
	}
	return rep, nil
}

// entryProblem says why e does not follow prev in the chain, or "".
func (l *AuditLog) entryProblem(e, prev AuditEntry, legacyUntil int64, sealed bool) string {
	if e.Seq != prev.Seq+1 {
		return fmt.Sprintf("entry %d is missing (next is %d)", prev.Seq+1, e.Seq)
	}
	if e.PrevHash != prev.Hash {
		return "does not link to the entry before it"
	}
	if e.Seq <= legacyUntil {
		link, problem := legacyLink(e)
		switch {
		case problem != "":
			return problem
		case e.Hash == link:
			return ""
		case !sealed && e.Hash == l.keyedLink(e):
			return "it is keyed, but the database holds no checkpoint saying where the keyed chain starts: the checkpoints were removed"
		}
		return "its content does not match its hash"
	}
	if problem := detailProblem(e.RawDetail); problem != "" {
		return problem
	}
	got, err := hex.DecodeString(e.Hash)
	want, _ := hex.DecodeString(l.keyedLink(e))
	if err != nil || !hmac.Equal(got, want) {
		return "its MAC does not match: the entry was changed, or this is not the key-encryption key that wrote it"
	}
	return ""
}

// checkpoints returns every checkpoint in the database, in order.
func (l *AuditLog) checkpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	var out []AuditCheckpoint
	after := int64(0)
	for {
		batch, err := l.store.AuditCheckpoints(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, c := range batch {
			c.Source = "the database"
			out = append(out, c)
			after = c.ID
		}
		if len(batch) < 1000 {
			return out, nil
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// List returns up to limit entries after seq.
func (l *AuditLog) List(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	return l.store.AuditAfter(ctx, after, limit)
}
