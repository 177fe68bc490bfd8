package oauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity/password"
)

var strictLimits = throttle.ClientAuthLimits{PerClient: throttle.Limit{Rate: 1, Period: time.Hour, Burst: 10},
	PerIP: throttle.Limit{Rate: 1, Period: time.Hour, Burst: 4}, KnownFor: time.Hour}

// A flood of wrong secrets for one client id, spread over many addresses and over the
// three endpoints that authenticate clients, is answered without hashing once the
// client id is over its limit (every 401 is one argon2id run; a 429 is none), while the
// caller whose correct secret is cached keeps getting answers, from any address
// (issue 9, H2).
func TestClientAuth_WrongSecretFloodIsThrottled(t *testing.T) {
	en := newEnvWith(t, "sqlite", strictLimits)
	tok := en.machineToken()
	introspect := func(ip, secret string) response {
		return en.formFrom(ip, access.PathIntrospect, url.Values{"token": {tok}}, gatewayID, secret)
	}
	if r := introspect("10.9.9.9", gatewaySecret); r.code != http.StatusOK || r.json()["active"] != true {
		t.Fatalf("warm-up: %s", r)
	}
	paths := []string{access.PathIntrospect, access.PathToken, access.PathRevoke}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		bad   []string
	)
	for i := range 120 {
		wg.Go(func() {
			form := url.Values{"token": {tok}, "grant_type": {"client_credentials"}}
			r := en.formFrom(fmt.Sprintf("198.51.100.%d", i%40), paths[i%3], form, gatewayID, fmt.Sprintf("wrong-%d", i))
			mu.Lock()
			defer mu.Unlock()
			codes[r.code]++
			if r.code == http.StatusTooManyRequests {
				if s, _ := strconv.Atoi(r.header.Get("Retry-After")); s < 1 || r.json()["error"] != "temporarily_unavailable" {
					bad = append(bad, r.String())
				}
			}
		})
	}
	for i := range 10 {
		for _, ip := range []string{"10.9.9.9", fmt.Sprintf("198.51.100.%d", i)} {
			if r := introspect(ip, gatewaySecret); r.code != http.StatusOK || r.json()["active"] != true {
				t.Errorf("the cached gateway during the flood, from %s: %s", ip, r)
			}
		}
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] > 10 || codes[http.StatusTooManyRequests] < 110 ||
		codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable] != 120 {
		t.Fatalf("answers to 120 wrong secrets: %v; want at most 10 hashed (401), the rest 429", codes)
	}
	if len(bad) > 0 {
		t.Fatalf("429 without Retry-After or OAuth error: %v", bad)
	}
	if r := introspect("10.9.9.9", gatewaySecret); r.code != http.StatusOK {
		t.Fatalf("the cached gateway after the flood: %s", r)
	}
}

// An unknown client id meets the throttle exactly as a known one does: the same
// answers, in the same order, so the throttle does not tell which ids exist.
func TestClientAuth_ThrottleDoesNotTellClientIDsApart(t *testing.T) {
	en := newEnvWith(t, "sqlite", strictLimits)
	cc := url.Values{"grant_type": {"client_credentials"}}
	seq := func(ip, id string) []string {
		var out []string
		for range 7 {
			r := en.formFrom(ip, access.PathToken, cc, id, "same-wrong-secret")
			out = append(out, fmt.Sprintf("%d %v", r.code, r.json()["error"]))
		}
		return out
	}
	known, unknown := seq("203.0.113.1", m2mID), seq("203.0.113.2", "no-such-client")
	want := "[401 invalid_client 401 invalid_client 401 invalid_client 401 invalid_client 429 temporarily_unavailable 429 temporarily_unavailable 429 temporarily_unavailable]"
	if fmt.Sprint(known) != want || fmt.Sprint(unknown) != want {
		t.Fatalf("known client: %v\nunknown client: %v\nwant both %s", known, unknown, want)
	}
	// Another address is not held back by these failures while the client ids have room.
	if r := en.formFrom("203.0.113.3", access.PathToken, cc, m2mID, m2mSecret); r.code != http.StatusOK {
		t.Fatalf("the right secret from another address: %s", r)
	}
}

// fosite's introspection drops the hasher's error; the endpoint still answers a
// saturated hashing pool with 503 temporarily_unavailable, never with a 401 that would
// tell a gateway its secret is wrong.
func TestIntrospect_BusyHashingIs503(t *testing.T) {
	en := newEnvWith(t, "sqlite", roomyLimits, password.WithPool(1, time.Millisecond))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]int{}
	)
	for i := range 24 {
		wg.Go(func() {
			r := en.form(access.PathIntrospect, url.Values{"token": {"x"}}, gatewayID, fmt.Sprintf("wrong-%d", i))
			mu.Lock()
			defer mu.Unlock()
			codes[fmt.Sprintf("%d %v %s", r.code, r.json()["error"], r.header.Get("Retry-After"))]++
		})
	}
	wg.Wait()
	if len(codes) != 2 || codes["503 temporarily_unavailable 1"] == 0 || codes["401 request_unauthorized "] == 0 {
		t.Fatalf("answers to a flood of introspections: %v; want 401s (checked) and 503s with Retry-After (shed)", codes)
	}
}

// A client still on its previous secret during a rotation's overlap is checked against
// both hashes in every request; that is one success, never a failure, so it is not
// throttled however often it calls.
func TestClientAuth_PreviousSecretDuringOverlapIsNotAFailure(t *testing.T) {
	en := newEnvWith(t, "sqlite", strictLimits)
	rot, err := en.clients.RotateSecret(context.Background(), m2mID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Secret == m2mSecret {
		t.Fatal("rotation kept the secret")
	}
	for i := range 3 * strictLimits.PerIP.Burst {
		if r := en.ccToken(m2mSecret); r.code != http.StatusOK {
			t.Fatalf("request %d with the previous secret: %s", i, r)
		}
	}
	// None of them counted: wrong secrets from the same address still get the whole
	// allowance before they are refused.
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}
	for i := range strictLimits.PerIP.Burst {
		if r := en.form(access.PathToken, cc, m2mID, fmt.Sprintf("wrong-%d", i)); r.code != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d after the previous secret's requests: %s, want 401", i, r)
		}
	}
	if r := en.form(access.PathToken, cc, m2mID, "wrong-again"); r.code != http.StatusTooManyRequests {
		t.Fatalf("past the allowance: %s, want 429", r)
	}
}
