package keys

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Alg is a JWS algorithm Weft signs with.
type Alg string

// The supported algorithms. ES256 is the default; RS256 exists for relying parties that
// only verify RSA. RSA keys are 2048 bits: 4096 would make every RS256 signature several
// times slower on the token endpoint's hot path for no practical gain.
const (
	ES256 Alg = "ES256"
	RS256 Alg = "RS256"
)

// Algs lists every supported algorithm, the default first.
var Algs = []Alg{ES256, RS256}

// ParseAlg accepts "ES256" or "RS256".
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case ES256, RS256:
		return a, nil
	}
	return "", fmt.Errorf("%w %q (want ES256 or RS256)", ErrUnsupportedAlg, s)
}

// State is the place of a key in its ring.
type State string

// Key states; see the package documentation.
const (
	StateNext    State = "next"
	StateCurrent State = "current"
	StateRetired State = "retired"
)

// Info describes a key without any private material: what `weft keys list` shows and
// what EnsureKeys and Rotate report.
type Info struct {
	KID         string
	Alg         Alg
	State       State
	CreatedAt   time.Time
	ActivatedAt time.Time // zero while next
	RetireAfter time.Time // zero unless retired
}

// Record is a key as the Store keeps it: the public key in clear, the private key
// sealed. Stores persist it verbatim and never interpret the key material.
type Record struct {
	KID        string
	Alg        Alg
	State      State
	PublicKey  []byte // PKIX DER
	PrivateKey []byte // AES-256-GCM ciphertext (tag appended) of the PKCS#8 DER
	Nonce      []byte // 12 bytes, unique per key
	CreatedAt  time.Time
	// ActivatedAt is when the key became current; zero while it is next.
	ActivatedAt time.Time
	// RetireAfter is set when the key is retired: it is published until then.
	RetireAfter time.Time
}

// Info returns r's description.
func (r Record) Info() Info {
	return Info{KID: r.KID, Alg: r.Alg, State: r.State, CreatedAt: r.CreatedAt,
		ActivatedAt: r.ActivatedAt, RetireAfter: r.RetireAfter}
}

// Store persists signing keys. Every method joins the transaction carried by ctx, if
// any (see identity.Transactor).
type Store interface {
	// Create inserts r. Returns an error wrapping identity.ErrConflict if the kid exists
	// or if r is current or next and its algorithm already has a key in that state.
	Create(ctx context.Context, r Record) error
	// List returns every key, oldest first.
	List(ctx context.Context) ([]Record, error)
	// Activate moves key kid from next to current, recording at as ActivatedAt.
	// Returns identity.ErrNotFound if there is no next key kid, and
	// identity.ErrConflict if its algorithm already has a current key.
	Activate(ctx context.Context, kid string, at time.Time) error
	// Retire moves key kid from current to retired, to be pruned after retireAfter.
	// Returns identity.ErrNotFound if there is no current key kid.
	Retire(ctx context.Context, kid string, retireAfter time.Time) error
	// DeleteRetired deletes the retired keys whose RetireAfter is not after now and
	// returns how many it deleted.
	DeleteRetired(ctx context.Context, now time.Time) (int, error)
}

// Transactor is what the Manager needs of the shared database handle
// (*sqlstore.DB implements it): one transaction, and a named lock inside it so that
// several nodes starting or rotating together act one after the other.
type Transactor = identity.Transactor
