package analytics_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/geoip"
	"github.com/weft-fabric/weft/analytics/geoip/geoiptest"
	"github.com/weft-fabric/weft/analytics/memstore"
	"github.com/weft-fabric/weft/analytics/threatintel"
)

// benchEngine is every detector on: a GeoIP City and ASN database, a threat feed of
// 10,000 networks, and the in-process state.
func benchEngine(b *testing.B) *analytics.Engine {
	b.Helper()
	geo, err := geoip.Open(geoip.Config{
		CityPath: geoiptest.WriteCity(b, geoiptest.Berlin, geoiptest.Potsdam, geoiptest.NewYork, geoiptest.Sydney),
		ASNPath:  geoiptest.WriteASN(b, geoiptest.ASBerlin, geoiptest.ASNewYork),
	})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "%d.%d.%d.0/24\n", 11+i%200, (i/200)%256, i%256)
	}
	feed := filepath.Join(b.TempDir(), "feed.txt")
	if err := os.WriteFile(feed, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	threats, err := threatintel.New(threatintel.Config{Sources: []threatintel.Source{{Name: "feed", Location: feed}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := threats.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	e, err := analytics.NewEngine(analytics.Config{State: memstore.New(memstore.Options{}), Locator: geo, Threats: threats})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	return e
}

// The steady state: a known user on a known device and network, in their session.
func BenchmarkEngine_Score(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	s := analytics.Signal{Subject: "u1", SubjectKind: "user", ClientID: "c1", SessionID: "s1", Action: "introspect",
		IP: "192.0.2.10", UserAgent: "curl/8", DeviceID: "d1"}
	if _, err := e.Score(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.Score(ctx, s); r.Score != 0 {
			b.Fatalf("steady state scored %+v", r)
		}
	}
}

// A request with findings: the session's token from another continent, alternating,
// so impossible travel, session drift and a new network fire every time.
func BenchmarkEngine_ScoreFindings(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	home := analytics.Signal{Subject: "u1", SessionID: "s1", IP: "192.0.2.10", DeviceID: "d1"}
	away := home
	away.IP = "198.51.100.7"
	_, _ = e.Score(ctx, home)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := away
		if i%2 == 1 {
			s = home
		}
		i++
		s.At = time.Now()
		if r, _ := e.Score(ctx, s); len(r.Reasons) == 0 && i > 1 {
			b.Fatalf("no findings: %+v", r)
		}
	}
}

// Many subjects in parallel, as a node serving many users.
func BenchmarkEngine_ScoreParallel(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			s := analytics.Signal{Subject: "u" + fmt.Sprint(i%1000), SessionID: "s", IP: "192.0.2.10", DeviceID: "d1"}
			if _, err := e.Score(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
