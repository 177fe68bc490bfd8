package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

func benchManager(b *testing.B) *keys.Manager {
	db := sqltest.Open(b, sqltest.SQLite)
	m, err := keys.New(keysql.New(db), db, keys.Config{KEK: newKEK(b)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.EnsureKeys(context.Background()); err != nil {
		b.Fatal(err)
	}
	return m
}

// The lookup on every signature: an atomic load and a map read.
func BenchmarkManager_SigningKey(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := m.SigningKey(ctx, keys.ES256); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A whole JWT signed through fosite, per algorithm: why RS256 keys are 2048 bits.
func BenchmarkFositeSigner_Generate(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	for _, alg := range keys.Algs {
		b.Run(string(alg), func(b *testing.B) {
			s := m.FositeSigner(alg)
			claims := jwt.MapClaims{"sub": "alice", "iss": "https://weft.test", "exp": time.Now().Add(time.Hour).Unix()}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Generate(ctx, claims, &jwt.Headers{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
