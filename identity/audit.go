package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one line of the append-only audit log: admin changes, security events
// and (later) revocations and deliveries. Entries are hash-chained: each Hash covers the
// entry and the previous entry's Hash, so altering, removing or reordering any line
// breaks every hash after it, which Verify detects.
type AuditEntry struct {
	Seq      int64
	At       time.Time
	Kind     string         // e.g. "admin.change", "security.refresh_token_reuse"
	Actor    string         // who did it: a user id, a client id, "cli", "system"
	Subject  string         // what it concerns, if one thing
	Detail   map[string]any // small, never secret
	PrevHash string
	Hash     string
}

// AuditStore persists the chain. Implementations never update or delete entries.
type AuditStore interface {
	// LastAudit returns the newest entry; ErrNotFound on an empty log.
	LastAudit(ctx context.Context) (AuditEntry, error)
	// AppendAudit stores e; ErrConflict if its Seq is taken.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// AuditAfter returns up to limit entries with Seq > after, in Seq order.
	AuditAfter(ctx context.Context, after int64, limit int) ([]AuditEntry, error)
}

// AuditLog records and verifies the chain.
type AuditLog struct {
	store AuditStore
	tx    Transactor
	now   func() time.Time
}

// NewAuditLog builds the service.
func NewAuditLog(store AuditStore, tx Transactor) *AuditLog {
	return &AuditLog{store: store, tx: tx, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Record appends an entry. A lock serialises writers across nodes, so the chain has
// one order.
func (l *AuditLog) Record(ctx context.Context, kind, actor, subject string, detail map[string]any) error {
	if kind == "" {
		return invalid("kind", "is required")
	}
	return l.tx.InTx(ctx, func(ctx context.Context) error {
		if err := l.tx.Lock(ctx, "weft.audit"); err != nil {
			return err
		}
		last, err := l.store.LastAudit(ctx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		e := AuditEntry{Seq: last.Seq + 1, At: l.now(), Kind: kind, Actor: actor, Subject: subject, Detail: detail, PrevHash: last.Hash}
		if e.Hash, err = AuditHash(e); err != nil {
			return err
		}
		return l.store.AppendAudit(ctx, e)
	})
}

// AuditHash is SHA-256 over the entry's fields and the previous hash, each
// length-prefixed so that no two different entries encode alike.
func AuditHash(e AuditEntry) (string, error) {
	detail, err := json.Marshal(e.Detail) // map keys are sorted: a canonical form
	if err != nil {
		return "", fmt.Errorf("audit detail: %w", err)
	}
	h := sha256.New()
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.Actor, e.Subject, string(detail), e.PrevHash} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AuditReport is the outcome of Verify.
type AuditReport struct {
	Entries  int64
	Head     string // hash of the newest entry
	BrokenAt int64  // first entry that fails, 0 when intact
	Problem  string
}

// Intact reports whether the whole chain verified.
func (r AuditReport) Intact() bool { return r.BrokenAt == 0 }

// Verify walks the chain from the first entry and reports the first one whose sequence,
// link or hash does not hold.
func (l *AuditLog) Verify(ctx context.Context) (AuditReport, error) {
	var (
		rep  AuditReport
		prev AuditEntry
	)
	for {
		batch, err := l.store.AuditAfter(ctx, prev.Seq, 1000)
		if err != nil {
			return rep, err
		}
		for _, e := range batch {
			switch want, _ := AuditHash(e); {
			case e.Seq != prev.Seq+1:
				rep.BrokenAt, rep.Problem = prev.Seq+1, fmt.Sprintf("entry %d is missing (next is %d)", prev.Seq+1, e.Seq)
			case e.PrevHash != prev.Hash:
				rep.BrokenAt, rep.Problem = e.Seq, "does not link to the entry before it"
			case e.Hash != want:
				rep.BrokenAt, rep.Problem = e.Seq, "its content does not match its hash"
			}
			if rep.BrokenAt != 0 {
				return rep, nil
			}
			rep.Entries, rep.Head, prev = rep.Entries+1, e.Hash, e
		}
		if len(batch) < 1000 {
			return rep, nil
		}
	}
}

// List returns up to limit entries after seq.
func (l *AuditLog) List(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	return l.store.AuditAfter(ctx, after, limit)
}
