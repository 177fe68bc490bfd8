package ssfapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestSSF_PushEndpointSSRF: push endpoints that lead to internal addresses are refused
// at creation and at update with a 400 problem naming delivery.endpoint_url, and change
// nothing (issue 9, M2). The issuer https://id.example is not on loopback; every URL of
// the review's reproduction is among them. Nothing is dialled: names resolve through
// fakeDNS and the guard's dialer refuses every call.
func TestSSF_PushEndpointSSRF(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		push := en.create(t, tokA, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+pushURL+`"},"description":"keep"}`)
		before := en.snapshot(t)
		for _, tc := range []struct{ url, why string }{
			{"http://127.0.0.1:9771/internal/admin?x=1", "https"},
			{"http://[::1]:9771/x", "https"},
			{"http://localhost:9771/x", "https"},
			{"http://[::ffff:127.0.0.1]:9771/mapped", "https"},
			{"http://127.0.0.1:6379/", "https"},
			{"https://127.0.0.1:15000/quitquitquit", "loopback"},
			{"https://[::ffff:127.0.0.1]:15000/", "loopback"},
			{"https://169.254.169.254/latest/", "metadata"},
			{"https://10.0.0.1/", "private"},
			{"https://[fd00::1]/", "private"},
			{"https://100.64.0.1/", "carrier-grade"},
			{"https://0.0.0.0/", "unspecified"},
			{"https://internal.example/hook", "private"},
			{"https://metadata.example/latest/", "metadata"},
			{"https://ula.example/", "private"},
			{"https://loopback.example:15000/", "loopback"},
			{"https://unknown.example/", "does not resolve"},
			{"https://user:pw@rp.example/ssf", "user information"},
			{"gopher://rp.example/", "https"},
		} {
			for _, call := range []struct{ name, method, body string }{
				{"create", http.MethodPost, `{"delivery":{"method":"` + methodPush + `","endpoint_url":"` + tc.url + `"}}`},
				{"update", http.MethodPatch, `{"stream_id":"` + push.StreamID + `","delivery":{"method":"` + methodPush + `","endpoint_url":"` + tc.url + `"}}`},
				{"replace", http.MethodPut, `{"stream_id":"` + push.StreamID + `","delivery":{"method":"` + methodPush + `","endpoint_url":"` + tc.url + `"}}`},
			} {
				t.Run(call.name+" "+tc.url, func(t *testing.T) {
					p := problemOf(t, en.call(call.method, "/ssf/stream", tokA, call.body), http.StatusBadRequest)
					if !strings.HasPrefix(p.Detail, "delivery.endpoint_url: ") || !strings.Contains(p.Detail, tc.why) {
						t.Fatalf("problem %+v, want delivery.endpoint_url naming %q", p, tc.why)
					}
					if strings.Contains(p.Detail, "10.0.0.1") && strings.Contains(tc.url, ".example") {
						t.Fatalf("the problem shows where an internal name resolves: %+v", p)
					}
				})
			}
		}
		en.unchanged(t, "refused endpoints", before)
		// A public host is still fine.
		ok(t, en.call(http.MethodPatch, "/ssf/stream", tokA, `{"stream_id":"`+push.StreamID+`","delivery":{"method":"`+methodPush+
			`","endpoint_url":"https://rp.example/ssf/v2?tenant=7"}}`), http.StatusOK, nil)
	})
}
