package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
)

// DefaultRefresh is how often a Manager rereads the keys when Config.Refresh is zero.
const DefaultRefresh = 30 * time.Second

const (
	// lockName serialises EnsureKeys and Rotate across nodes (a PostgreSQL advisory
	// lock; SQLite's single writer does it there).
	lockName = "weft.keys"
	// retireMargin is added to a retired key's retention on top of the refresh interval:
	// clock skew between nodes, and a reload in flight when the rotation lands.
	retireMargin = time.Minute
	// reloadTimeout bounds a background reload.
	reloadTimeout = 10 * time.Second
)

// Config tunes a Manager.
type Config struct {
	// KEK is the 32-byte key-encryption key (see ParseKEK, LoadOrCreateKEKFile).
	KEK []byte
	// Algs are the algorithms EnsureKeys keeps a ring for; nil means Algs (ES256 and
	// RS256). Keys of other algorithms already stored are still published and verified.
	Algs []Alg
	// Refresh is how stale the in-memory keys may get before a background reload; 0
	// means DefaultRefresh. It bounds how long a rotation made by another process takes
	// to reach this one.
	Refresh time.Duration
	// Logger receives failures of background reloads (the only errors no caller sees).
	// nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Manager owns the signing keys: it creates and rotates them in the Store and serves
// them, decrypted and cached, to the signers and the JWKS endpoint. It is safe for
// concurrent use.
type Manager struct {
	store   Store
	tx      Transactor
	sealer  *sealer
	algs    []Alg
	refresh time.Duration
	log     *slog.Logger
	now     func() time.Time

	snap        atomic.Pointer[snapshot]
	loadMu      sync.Mutex   // one load at a time
	refreshing  atomic.Bool  // a background reload is running
	nextRefresh atomic.Int64 // unix nanoseconds after which the snapshot is stale
}

// New returns a Manager over store. It does not touch the database: call EnsureKeys
// at start (or Reload, where another process creates the keys).
func New(store Store, tx Transactor, cfg Config) (*Manager, error) {
	s, err := newSealer(cfg.KEK)
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, tx: tx, sealer: s, refresh: cfg.Refresh, log: cfg.Logger, now: cfg.Now}
	if m.refresh <= 0 {
		m.refresh = DefaultRefresh
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	algs := cfg.Algs
	if algs == nil {
		algs = Algs
	}
	for _, a := range algs {
		if _, err := ParseAlg(string(a)); err != nil {
			return nil, err
		}
		if !slices.Contains(m.algs, a) {
			m.algs = append(m.algs, a)
		}
	}
	if len(m.algs) == 0 {
		return nil, fmt.Errorf("%w: no algorithm enabled", ErrUnsupportedAlg)
	}
	return m, nil
}

// clock returns now in UTC at the precision both databases keep.
func (m *Manager) clock() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// EnsureKeys creates whatever is missing of a current and a next key for every enabled
// algorithm, and loads the keys. It returns the keys it created (none on every start
// but the first). Nodes starting together create exactly one set: they take a lock in
// one transaction. Before creating anything it decrypts the existing keys, so a node
// configured with the wrong KEK fails with ErrUndecryptable instead of adding keys no
// other node can read.
func (m *Manager) EnsureKeys(ctx context.Context) ([]Info, error) {
	var created []Info
	err := m.tx.InTx(ctx, func(ctx context.Context) error {
		created = created[:0]
		recs, err := m.lockedList(ctx)
		if err != nil {
			return err
		}
		have := map[Alg]map[State]bool{}
		for _, r := range recs {
			if have[r.Alg] == nil {
				have[r.Alg] = map[State]bool{}
			}
			have[r.Alg][r.State] = true
		}
		now := m.clock()
		for _, alg := range m.algs {
			for _, st := range []State{StateCurrent, StateNext} {
				if have[alg][st] {
					continue
				}
				r, err := m.sealer.generate(alg, now)
				if err != nil {
					return err
				}
				r.State = st
				if st == StateCurrent {
					r.ActivatedAt = now
				}
				if err := m.store.Create(ctx, r); err != nil {
					return fmt.Errorf("store %s %s key: %w", st, alg, err)
				}
				created = append(created, r.Info())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ensure signing keys: %w", err)
	}
	if _, err := m.load(ctx, false); err != nil {
		return created, err
	}
	return created, nil
}

// lockedList takes the key lock in the transaction of ctx, lists the keys and checks
// that every one decrypts with this Manager's KEK.
func (m *Manager) lockedList(ctx context.Context) ([]Record, error) {
	if err := m.tx.Lock(ctx, lockName); err != nil {
		return nil, fmt.Errorf("lock signing keys: %w", err)
	}
	recs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	prev := m.snap.Load()
	for _, r := range recs {
		if _, err := m.open(prev, r); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// Rotation reports what Rotate did.
type Rotation struct {
	Retired Info // the former current key
	Current Info // the former next key, signing now
	Next    Info // the key created to wait for the following rotation
}

// Rotate turns the ring of alg by one step, in one transaction: the current key is
// retired, the next key becomes current and a new next key is created. retainFor is how
// long the retired key stays published: pass the longest lifetime of a token it may
// have signed (ID, access and logout tokens). The Manager adds its refresh interval and
// a minute, because other nodes sign with the old key until they reload.
//
// The key that starts signing has been published since the previous rotation (or
// since EnsureKeys), so relying parties that cache the JWKS already hold it; rotating
// twice within their cache lifetime forces them to refetch it on an unknown kid.
// Returns ErrIncompleteRing if alg has no current or next key.
func (m *Manager) Rotate(ctx context.Context, alg Alg, retainFor time.Duration) (Rotation, error) {
	if _, err := ParseAlg(string(alg)); err != nil {
		return Rotation{}, err
	}
	if retainFor < 0 {
		return Rotation{}, fmt.Errorf("rotate %s keys: negative retention %s", alg, retainFor)
	}
	// Generate outside the transaction: an RSA key takes a while, the lock should not.
	fresh, err := m.sealer.generate(alg, m.clock())
	if err != nil {
		return Rotation{}, err
	}
	var rot Rotation
	err = m.tx.InTx(ctx, func(ctx context.Context) error {
		recs, err := m.lockedList(ctx)
		if err != nil {
			return err
		}
		var cur, next *Record
		for i := range recs {
			switch r := &recs[i]; {
			case r.Alg == alg && r.State == StateCurrent:
				cur = r
			case r.Alg == alg && r.State == StateNext:
				next = r
			}
		}
		if cur == nil || next == nil {
			return fmt.Errorf("%w: %s has no current or no next key (EnsureKeys creates them)", ErrIncompleteRing, alg)
		}
		now := m.clock()
		retireAfter := now.Add(retainFor + m.refresh + retireMargin)
		// Order matters: the unique indexes allow one current and one next per alg.
		if err := m.store.Retire(ctx, cur.KID, retireAfter); err != nil {
			return fmt.Errorf("retire key %s: %w", cur.KID, err)
		}
		if err := m.store.Activate(ctx, next.KID, now); err != nil {
			return fmt.Errorf("activate key %s: %w", next.KID, err)
		}
		fresh.CreatedAt = now
		if err := m.store.Create(ctx, fresh); err != nil {
			return fmt.Errorf("store next %s key: %w", alg, err)
		}
		rot = Rotation{Retired: cur.Info(), Current: next.Info(), Next: fresh.Info()}
		rot.Retired.State, rot.Retired.RetireAfter = StateRetired, retireAfter
		rot.Current.State, rot.Current.ActivatedAt = StateCurrent, now
		return nil
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate %s keys: %w", alg, err)
	}
	if _, err := m.load(ctx, false); err != nil {
		return rot, err
	}
	return rot, nil
}

// Prune deletes the retired keys whose RetireAfter is not after now and returns how
// many it deleted. Run it periodically (any node; it is idempotent). Keys past their
// RetireAfter are no longer published or accepted even before they are pruned.
func (m *Manager) Prune(ctx context.Context, now time.Time) (int, error) {
	n, err := m.store.DeleteRetired(ctx, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune signing keys: %w", err)
	}
	if n > 0 {
		if _, err := m.load(ctx, false); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Keys lists every stored key, read from the store (not the cache), without private
// material: for `weft keys list`.
func (m *Manager) Keys(ctx context.Context) ([]Info, error) {
	recs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out := make([]Info, len(recs))
	for i, r := range recs {
		out[i] = r.Info()
	}
	return out, nil
}

// Reload rereads the keys now. EnsureKeys, Rotate and Prune reload by themselves; other
// changes (another process rotating) are picked up within Config.Refresh anyway.
func (m *Manager) Reload(ctx context.Context) error {
	_, err := m.load(ctx, false)
	return err
}

// SigningKey returns the current key of alg: its kid and its private key. It reads the
// in-memory snapshot; only the very first call of a Manager that never loaded touches
// the store. Returns ErrNoSigningKey if alg has no current key.
func (m *Manager) SigningKey(ctx context.Context, alg Alg) (kid string, priv crypto.Signer, err error) {
	s, err := m.loaded(ctx)
	if err != nil {
		return "", nil, err
	}
	k := s.current[alg]
	if k == nil {
		return "", nil, fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
	}
	return k.KID, k.priv, nil
}

// loaded is the hot path: the loaded keys, loading them the first time, and starting a
// background reload when they are older than the refresh interval. A failed background
// reload keeps the previous keys and is retried an interval later. Until a first load
// succeeds (EnsureKeys or Reload at start make sure it has), every call tries again.
func (m *Manager) loaded(ctx context.Context) (*snapshot, error) {
	s := m.snap.Load()
	if s == nil {
		return m.load(ctx, true)
	}
	if m.now().UnixNano() >= m.nextRefresh.Load() && m.refreshing.CompareAndSwap(false, true) {
		// A fresh context, never the caller's: it may carry the caller's transaction,
		// which must not be used from another goroutine, and it ends with the request.
		go func() {
			defer m.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
			defer cancel()
			if _, err := m.load(ctx, false); err != nil {
				m.nextRefresh.Store(m.now().Add(m.refresh).UnixNano())
				m.log.Warn("reload signing keys failed; keeping the keys loaded before", "error", err)
			}
		}()
	}
	return s, nil
}

// load reads and decrypts the keys and publishes a new snapshot. With ifEmpty it
// returns the existing snapshot when there is one (concurrent first calls load once).
func (m *Manager) load(ctx context.Context, ifEmpty bool) (*snapshot, error) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	prev := m.snap.Load()
	if ifEmpty && prev != nil {
		return prev, nil
	}
	recs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	now := m.now()
	ks := make([]*key, 0, len(recs))
	for _, r := range recs {
		if r.State == StateRetired && !r.RetireAfter.After(now) {
			continue // expired: no longer published, whether or not pruned yet
		}
		k, err := m.open(prev, r)
		if err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		ks = append(ks, k)
	}
	s, err := newSnapshot(ks)
	if err != nil {
		return nil, err
	}
	m.snap.Store(s)
	m.nextRefresh.Store(now.Add(m.refresh).UnixNano())
	return s, nil
}

// open decrypts r, reusing the key decrypted by an earlier load when the row's sealed
// material is byte for byte the same (only its state may have changed).
func (m *Manager) open(prev *snapshot, r Record) (*key, error) {
	if prev != nil {
		if k := prev.byKID[r.KID]; k != nil && k.Alg == r.Alg && bytes.Equal(k.sealed, r.PrivateKey) &&
			bytes.Equal(k.nonce, r.Nonce) && bytes.Equal(k.pubDER, r.PublicKey) {
			c := *k
			c.Info = r.Info()
			return &c, nil
		}
	}
	return m.sealer.open(r)
}

// snapshot is an immutable view of the keys, swapped whole on reload.
type snapshot struct {
	current  map[Alg]*key
	byKID    map[string]*key
	fosite   map[Alg]*josev3.JSONWebKey
	jwks     jose.JSONWebKeySet
	jwksJSON []byte
}

// newSnapshot orders the keys as the JWKS lists them: current keys first (ES256, then
// RS256), then next keys, then retired ones, most recently retired first.
func newSnapshot(ks []*key) (*snapshot, error) {
	rank := map[State]int{StateCurrent: 0, StateNext: 1, StateRetired: 2}
	slices.SortStableFunc(ks, func(a, b *key) int {
		return cmp.Or(
			cmp.Compare(rank[a.State], rank[b.State]),
			cmp.Compare(slices.Index(Algs, a.Alg), slices.Index(Algs, b.Alg)),
			b.RetireAfter.Compare(a.RetireAfter),
			b.CreatedAt.Compare(a.CreatedAt),
		)
	})
	s := &snapshot{
		current: map[Alg]*key{},
		byKID:   make(map[string]*key, len(ks)),
		fosite:  map[Alg]*josev3.JSONWebKey{},
		jwks:    jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ks))},
	}
	for _, k := range ks {
		s.byKID[k.KID] = k
		if k.State == StateCurrent {
			if s.current[k.Alg] != nil {
				return nil, fmt.Errorf("load signing keys: %w: two current %s keys", ErrCorruptKey, k.Alg)
			}
			s.current[k.Alg] = k
			// fosite (go-jose v3) takes the kid from a JSONWebKey's KeyID.
			s.fosite[k.Alg] = &josev3.JSONWebKey{Key: k.priv, KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"}
		}
		s.jwks.Keys = append(s.jwks.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
	}
	b, err := json.Marshal(s.jwks)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	s.jwksJSON = b
	return s, nil
}
