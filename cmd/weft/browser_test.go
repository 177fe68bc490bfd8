package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// chromium finds Debian's Chromium; without it the browser tests skip (or fail under
// WEFT_TEST_REQUIRE_SERVICES=1, as in CI, which installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if sqltest.ServicesRequired() {
		t.Fatal("Chromium is required (WEFT_TEST_REQUIRE_SERVICES=1) but not installed: apt-get install chromium")
	}
	t.Skip("skipping: Chromium not installed (apt-get install chromium)")
	return ""
}

// TestBrowser_LoginAndConsent drives the login and consent pages in a real headless
// Chromium: labelled fields, a wrong password's message, then sign-in and consent ending
// at the relying party's redirect URI with a code, under the pages' strict CSP.
func TestBrowser_LoginAndConsent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	exe := chromium(t)
	// The relying party: a callback server on a free port, registered as a client.
	got := make(chan url.Values, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.URL.Query():
		default:
		}
		_, _ = w.Write([]byte("signed in"))
	}))
	defer rp.Close()
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: browser-rp
    name: Browser test application
    type: confidential
    secret: browser-rp-secret
    redirect_uris: [`+rp.URL+`/callback]
    grant_types: [authorization_code]
    scopes: [openid, email]
`)
	o.web.ClientID, o.web.ClientSecret, o.web.RedirectURL = "browser-rp", "browser-rp-secret", rp.URL+"/callback"
	o.web.Scopes = []string{"openid", "email"}
	profile, err := os.MkdirTemp("", "weft-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile) // after the browser is gone (defers run last-in first-out)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	authURL := o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	var usernameLabel, passwordLabel, errText, consentText, title string
	var shot []byte
	err = chromedp.Run(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`#username`),
		chromedp.Title(&title),
		chromedp.Text(`label[for="username"]`, &usernameLabel),
		chromedp.Text(`label[for="password"]`, &passwordLabel),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "not-the-password"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`[role="alert"]`),
		chromedp.Text(`[role="alert"]`, &errText),
		chromedp.SendKeys(`#password`, "alice-demo-password-1"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`button[value="allow"]`),
		chromedp.Text(`main`, &consentText),
		chromedp.CaptureScreenshot(&shot),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if title != "Sign in · Weft" || usernameLabel != "Username" || passwordLabel != "Password" {
		t.Fatalf("login page: title %q, labels %q %q", title, usernameLabel, passwordLabel)
	}
	if errText != "The username or password is incorrect." {
		t.Fatalf("wrong-password message = %q", errText)
	}
	if !strings.Contains(consentText, "Browser test application") || !strings.Contains(consentText, "See your email address") {
		t.Fatalf("consent page says:\n%s", consentText)
	}
	if dir := os.Getenv("WEFT_TEST_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "consent.png"), shot, 0o644)
	}
	// Allow: the browser lands on the relying party's callback with a code.
	if err := chromedp.Run(ctx, chromedp.Click(`button[value="allow"]`)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	select {
	case q := <-got:
		if q.Get("code") == "" || q.Get("error") != "" {
			t.Fatalf("callback query = %v", q)
		}
	case <-ctx.Done():
		t.Fatal("the browser never reached the relying party's callback")
	}
}
