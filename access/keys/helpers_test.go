package keys_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// env is one backend with a Manager over it.
type env struct {
	db    *sqlstore.DB
	store *countingStore
	kek   []byte
	clock *clock
	m     *keys.Manager
}

func newKEK(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	db := sqltest.Open(t, b)
	e := &env{db: db, kek: newKEK(t), clock: newClock()}
	e.store = &countingStore{Store: keysql.New(db)}
	e.m = e.manager(t, e.kek)
	return e
}

// manager returns another Manager over the same database, as another node or the
// `weft keys` CLI would have, with its own store and cache, on the env's clock.
func (e *env) manager(t *testing.T, kek []byte) *keys.Manager {
	t.Helper()
	return e.managerWith(t, keys.Config{KEK: kek})
}

func (e *env) managerWith(t *testing.T, cfg keys.Config) *keys.Manager {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	store := keys.Store(keysql.New(e.db))
	if e.m == nil {
		store = e.store // the env's own Manager counts its store calls
	}
	m, err := keys.New(store, e.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

// clock is a settable clock; it starts at the real time so database defaults agree.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingStore counts the calls that reach the database and can be made to fail.
type countingStore struct {
	keys.Store
	calls atomic.Int64
	fail  atomic.Bool
}

var errStoreDown = errors.New("store down")

func (s *countingStore) hit() error {
	s.calls.Add(1)
	if s.fail.Load() {
		return errStoreDown
	}
	return nil
}

func (s *countingStore) Create(ctx context.Context, r keys.Record) error {
	if err := s.hit(); err != nil {
		return err
	}
	return s.Store.Create(ctx, r)
}

func (s *countingStore) List(ctx context.Context) ([]keys.Record, error) {
	if err := s.hit(); err != nil {
		return nil, err
	}
	return s.Store.List(ctx)
}

func (s *countingStore) Activate(ctx context.Context, kid string, at time.Time) error {
	if err := s.hit(); err != nil {
		return err
	}
	return s.Store.Activate(ctx, kid, at)
}

func (s *countingStore) Retire(ctx context.Context, kid string, at time.Time) error {
	if err := s.hit(); err != nil {
		return err
	}
	return s.Store.Retire(ctx, kid, at)
}

func (s *countingStore) DeleteRetired(ctx context.Context, now time.Time) (int, error) {
	if err := s.hit(); err != nil {
		return 0, err
	}
	return s.Store.DeleteRetired(ctx, now)
}

// ring returns the stored keys of each algorithm by state, failing on duplicates.
func ring(t *testing.T, m *keys.Manager) map[keys.Alg]map[keys.State][]keys.Info {
	t.Helper()
	infos, err := m.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[keys.Alg]map[keys.State][]keys.Info{}
	for _, in := range infos {
		if out[in.Alg] == nil {
			out[in.Alg] = map[keys.State][]keys.Info{}
		}
		out[in.Alg][in.State] = append(out[in.Alg][in.State], in)
	}
	return out
}

func kidOf(t *testing.T, m *keys.Manager, alg keys.Alg) string {
	t.Helper()
	kid, _, err := m.SigningKey(context.Background(), alg)
	if err != nil {
		t.Fatalf("signing key %s: %v", alg, err)
	}
	return kid
}

// jwksKIDs lists the kids a relying party would see, in order, from the JSON bytes.
func jwksKIDs(t *testing.T, m *keys.Manager) []string {
	t.Helper()
	set := fetchJWKS(t, m)
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.KeyID
	}
	return kids
}

// fetchJWKS decodes JWKSJSON as a relying party does, independently of PublicJWKS.
func fetchJWKS(t *testing.T, m *keys.Manager) jose.JSONWebKeySet {
	t.Helper()
	b, err := m.JWKSJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() || k.Use != "sig" || k.KeyID == "" || k.Algorithm == "" {
			t.Fatalf("JWKS key %q is not a valid public signing key: %+v", k.KeyID, k)
		}
	}
	return set
}

// signJWT signs claims with the current key of alg, the way our own JOSE code (logout
// tokens, security event tokens) would: go-jose v4, kid in the header.
func signJWT(t *testing.T, m *keys.Manager, alg keys.Alg, claims map[string]any) (token, kid string) {
	t.Helper()
	kid, priv, err := m.SigningKey(context.Background(), alg)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err = jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token, kid
}

// verifyWithJWKS verifies token as a relying party: pick the key by kid from the
// published set, require its alg, check the signature. Returns the kid used.
func verifyWithJWKS(set jose.JSONWebKeySet, token string) (string, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return "", err
	}
	h := jws.Signatures[0].Protected
	found := set.Key(h.KeyID)
	if len(found) != 1 {
		return "", errors.New("kid " + h.KeyID + " not in JWKS")
	}
	if found[0].Algorithm != h.Algorithm {
		return "", errors.New("alg mismatch")
	}
	if _, err := jws.Verify(found[0]); err != nil {
		return "", err
	}
	return h.KeyID, nil
}
