package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ClientLookup finds client definitions (cached by the caller's choice).
type ClientLookup interface {
	Client(ctx context.Context, id string) (Client, error)
}

// JWKS serves the public signing keys and verifies our own signatures (access/keys
// implements it).
type JWKS interface {
	JWKSJSON(ctx context.Context) ([]byte, error)
	// Verify checks a compact JWS against every published key, refusing "none" and
	// HMAC algorithms, and returns its payload.
	Verify(ctx context.Context, compact string) ([]byte, error)
}

// AuditRecorder appends to the audit log (identity.AuditLog implements it).
type AuditRecorder interface {
	Record(ctx context.Context, kind, actor, subject string, detail map[string]any) error
}

// JWTSigner signs claims as a compact JWS with the current ES256 key and the given typ
// header (cmd wires it to access/keys and go-jose).
type JWTSigner func(ctx context.Context, claims map[string]any, typ string) (string, error)

// SessionRevoker deactivates every token issued in a login session (access/fositestore).
type SessionRevoker interface {
	RevokeBySessionID(ctx context.Context, sid string) (int64, error)
}

// CheckDeps is for constructors that must not build a half-wired service: it returns an
// error naming, in order, every dependency that isNil reports missing, or nil.
func CheckDeps(constructor string, isNil map[string]bool) error {
	var missing []string
	for name, absent := range isNil {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("%s: missing %s", constructor, strings.Join(missing, ", "))
}
