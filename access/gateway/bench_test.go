package gateway_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuthz is forward-auth's own cost per request in the steady state, through
// echo and the shared middleware: route match, the gate (fakes stand in for the token
// and principal caches), identity headers from the profile cache's stand-in.
func BenchmarkAuthz(b *testing.B) {
	for _, bc := range []struct {
		name string
		edit func(*http.Request)
	}{
		{"bearer", bearer(tokAlice)},
		{"cookie", cookie(cookieOK)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			en := newEnvLogging(b, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
			r := httptest.NewRequest(http.MethodGet, "/gateway/authz", nil)
			r.Header.Set("X-Forwarded-Method", http.MethodGet)
			r.Header.Set("X-Forwarded-Host", appHost)
			r.Header.Set("X-Forwarded-Uri", "/wiki/page?x=1")
			bc.edit(r)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				en.e.ServeHTTP(rec, r)
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
			}
		})
	}
}
