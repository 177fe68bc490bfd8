package keys

import (
	"crypto/hkdf"
	"crypto/sha256"

	"github.com/weft-fabric/weft/identity"
)

// AuditKeys derives the keys of the keyed audit chain from the KEK: one MACs each
// entry's link, the other the checkpoints. The database holds neither, so whoever can
// write it can no longer recompute the chain after a change. Changing the KEK means the
// old chain verifies only with the old KEK: keep it for `weft audit verify` of that era.
func AuditKeys(kek []byte) (identity.AuditKeys, error) {
	chain, err := hkdf.Key(sha256.New, kek, nil, "weft audit chain v1", 32)
	if err != nil {
		return identity.AuditKeys{}, err
	}
	checkpoint, err := hkdf.Key(sha256.New, kek, nil, "weft audit checkpoint v1", 32)
	if err != nil {
		return identity.AuditKeys{}, err
	}
	return identity.AuditKeys{Chain: chain, Checkpoint: checkpoint}, nil
}
