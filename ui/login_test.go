package ui

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"

	"github.com/labstack/echo/v4"
)

// noClients finds no client: the login page then names none.
type noClients struct{}

func (noClients) Client(context.Context, string) (access.Client, error) {
	return access.Client{}, identity.ErrNotFound
}

const alicePassword = "alice-correct-horse-1"

var testLimits = throttle.LoginLimits{
	PerIP:        throttle.Limit{Rate: 1, Period: time.Hour, Burst: 10},
	PerAccountIP: throttle.Limit{Rate: 1, Period: time.Hour, Burst: 5},
	PerAccount:   throttle.Limit{Rate: 1, Period: time.Hour, Burst: 8},
	MaxDelay:     50 * time.Millisecond, DeviceKnownFor: time.Hour,
}

// loginEnv is the login page over a real directory (SQLite) with alice in it.
type loginEnv struct {
	e       *echo.Echo
	pages   *Pages
	cookies websession.Cookies
}

func newLoginEnv(t *testing.T, limits throttle.LoginLimits, maxInFlight int, opts ...password.Option) *loginEnv {
	t.Helper()
	hasher, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return newLoginEnvWith(t, limits, maxInFlight, hasher)
}

func newLoginEnvWith(t *testing.T, limits throttle.LoginLimits, maxInFlight int, hasher *password.Hasher) *loginEnv {
	t.Helper()
	db := sqltest.Open(t, sqltest.SQLite)
	dir := identity.NewDirectory(sqlstore.NewDirectory(db), db, hasher)
	if _, err := dir.CreateUser(context.Background(), identity.NewUser{Username: "alice", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	g, err := throttle.NewLogin(throttle.NewLocal(), limits)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := NewLimiter(g, maxInFlight)
	if err != nil {
		t.Fatal(err)
	}
	cookies := websession.Cookies{}
	sessions := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
	p := &Pages{Directory: dir, Sessions: sessions, Browser: websession.NewBrowser(cookies, sessions, dir),
		Clients: noClients{}, Cookies: cookies, Limiter: lim, Logger: slog.New(slog.DiscardHandler)}
	e := httpserver.New(httpserver.Options{})
	p.Register(e)
	return &loginEnv{e: e, pages: p, cookies: cookies}
}

type loginResult struct {
	code    int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

// post signs in from ip with the given cookies (a device cookie, for one).
func (en *loginEnv) post(ip, username, pw string, cookies ...*http.Cookie) loginResult {
	csrf := strings.Repeat("c", 43)
	form := url.Values{"username": {username}, "password": {pw}, "csrf_token": {csrf},
		"next": {access.PathAuthorize + "?client_id=demo-web"}}
	req := httptest.NewRequest(http.MethodPost, access.PathLogin, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = net.JoinHostPort(ip, "40000")
	req.AddCookie(&http.Cookie{Name: "weft_csrf", Value: csrf})
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return loginResult{code: rec.Code, body: rec.Body.String(), header: rec.Header(), cookies: rec.Result().Cookies()}
}

func (r loginResult) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Concurrent wrong passwords from one address: only as many are evaluated as the limit
// allows, however many arrive at once (the review's M4: every one of 60 was evaluated).
func TestLogin_ConcurrentGuessesAreCountedBeforeTheyAreChecked(t *testing.T) {
	en := newLoginEnv(t, testLimits, 1000) // no in-flight cap: the reservation alone must hold
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for i := range 60 {
		wg.Go(func() {
			r := en.post("192.0.2.10", fmt.Sprintf("user%d", i%3), "wrong-password")
			mu.Lock()
			codes[r.code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// 10 per address: every 401 was one password check.
	if codes[http.StatusUnauthorized] > 10 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable] != 60 {
		t.Fatalf("60 concurrent wrong passwords from one address: %v; want at most 10 checked (401), the rest 429", codes)
	}
}

// Every spelling the directory signs in as alice spends alice's budget.
func TestLogin_UsernameVariantsShareTheAccountBucket(t *testing.T) {
	en := newLoginEnv(t, testLimits, 4)
	for i := range 5 {
		if r := en.post("192.0.2.20", "alice", "wrong-password"); r.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.code)
		}
	}
	for _, variant := range []string{"\uff41lice", "ALICE", "\U0001d41alice", "a\uff4cice"} {
		r := en.post("192.0.2.20", variant, alicePassword)
		if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("%q from the guessing address: %d, want 429 with Retry-After (alice's bucket is spent)", variant, r.code)
		}
	}
}

// An attacker guessing alice's password from many addresses cannot lock her out: from a
// fresh address her right password signs her in (after a delay), and from a browser
// she signed in with before, without one (the review's L3).
func TestLogin_NoLockoutFromElsewhere(t *testing.T) {
	limits := testLimits
	limits.MaxDelay = 300 * time.Millisecond
	en := newLoginEnv(t, limits, 4)
	// Alice signs in once from home: her browser gets a device cookie.
	r := en.post("203.0.113.5", "alice", alicePassword)
	device := r.cookie("weft_device")
	if r.code != http.StatusSeeOther || device == nil {
		t.Fatalf("first sign-in: %d %v", r.code, r.cookies)
	}
	// The attacker: 6 addresses × 5 guesses, past both per-address limits and far past
	// the account's.
	for a := range 6 {
		for range 5 {
			if r := en.post(fmt.Sprintf("198.51.100.%d", a), "\uff41lice", "guess"); r.code != http.StatusUnauthorized {
				t.Fatalf("guess from attacker %d: %d", a, r.code)
			}
		}
		if r := en.post(fmt.Sprintf("198.51.100.%d", a), "alice", alicePassword); r.code != http.StatusTooManyRequests {
			t.Fatalf("attacker address past its account limit: %d, want 429", r.code)
		}
	}
	// The delays the throttle imposes, recorded rather than timed: a loaded machine
	// makes any request slow, and the question is whether the throttle held it.
	var delays []time.Duration
	en.pages.Limiter.wait = func(_ context.Context, d time.Duration) error {
		delays = append(delays, d)
		return nil
	}
	if r := en.post("203.0.113.77", "alice", alicePassword); r.code != http.StatusSeeOther {
		t.Fatalf("alice from a fresh address during the attack: %d, want 303 (delayed, not locked out)", r.code)
	}
	if r := en.post("203.0.113.5", "alice", alicePassword, device); r.code != http.StatusSeeOther {
		t.Fatalf("alice from her own browser during the attack: %d", r.code)
	}
	// The known browser skips the delay even from another address.
	if r := en.post("203.0.113.99", "alice", alicePassword, device); r.code != http.StatusSeeOther {
		t.Fatalf("alice's browser on another network: %d", r.code)
	}
	if len(delays) != 3 || delays[0] != limits.MaxDelay || delays[1] != 0 || delays[2] != 0 {
		t.Errorf("delays imposed (fresh address, her browser, her browser elsewhere) = %v, want [%s 0s 0s]", delays, limits.MaxDelay)
	}
}

// Each address may have only a few logins in flight on a node.
func TestLogin_InFlightCapPerAddress(t *testing.T) {
	en := newLoginEnv(t, testLimits, 1)
	leave, ok := en.pages.Limiter.enter("192.0.2.30")
	if !ok {
		t.Fatal("first login refused")
	}
	if r := en.post("192.0.2.30", "alice", alicePassword); r.code != http.StatusTooManyRequests {
		t.Fatalf("second login in flight from one address: %d, want 429", r.code)
	}
	if r := en.post("192.0.2.31", "alice", alicePassword); r.code != http.StatusSeeOther {
		t.Fatalf("another address: %d", r.code)
	}
	leave()
	if r := en.post("192.0.2.30", "alice", alicePassword); r.code != http.StatusSeeOther {
		t.Fatalf("after the first finished: %d", r.code)
	}
}

// When hashing is saturated the page says so kindly, with Retry-After. The pool's one
// slot is held by a slow verification (16 passes) while the login waits 1 ms for it.
func TestLogin_BusyPage(t *testing.T) {
	hasher, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		password.WithPool(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: password.MaxTime, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	slowHash, err := slow.Hash("anything")
	if err != nil {
		t.Fatal(err)
	}
	en := newLoginEnvWith(t, testLimits, 100, hasher)
	for attempt := range 5 {
		held := make(chan struct{})
		go func() { _ = hasher.Verify(context.Background(), "anything", slowHash); close(held) }()
		for hasher.Stats().InUse == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		r := en.post(fmt.Sprintf("192.0.2.%d", 40+attempt), "alice", "wrong-password")
		<-held
		if r.code == http.StatusServiceUnavailable {
			if r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "very busy") || strings.Contains(r.body, "wrong-password") {
				t.Fatalf("busy page: %v %s", r.header, r.body)
			}
			return
		}
		// The slow verification ended before the login asked for the slot: try again.
	}
	t.Fatal("five logins while the only hashing slot was taken: none answered 503")
}
