package fositestore

import (
	"context"
	"time"
)

// DefaultBatch is the batch size DeleteExpired uses when given none.
const DefaultBatch = 1000

// DeleteExpired deletes rows that expired before now from every table, batch rows per
// statement so that no statement holds locks for long, and returns how many it deleted.
// Used codes and rotated refresh tokens stay until they expire: their rows are what
// lets fosite detect reuse. Rows without expiry (refresh tokens under a negative
// lifespan) are never collected.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	tables := []struct {
		k   kind
		key string
	}{
		{kCode, "signature"}, {kAccess, "signature"}, {kRefresh, "signature"},
		{kPKCE, "signature"}, {kOIDC, "signature"}, {kJTI, "jti"},
	}
	var total int64
	for _, t := range tables {
		q := `DELETE FROM ` + t.k.table + ` WHERE ` + t.key + ` IN (
			SELECT ` + t.key + ` FROM ` + t.k.table + ` WHERE expires_at < ? LIMIT ?)`
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			res := s.conn(ctx).Exec(q, utc(now), batch)
			if res.Error != nil {
				return total, translate(t.k, res.Error)
			}
			total += res.RowsAffected
			if res.RowsAffected < int64(batch) {
				break
			}
		}
	}
	return total, nil
}
