package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

const (
	evSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	evCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	evAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	evAccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	evVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	evStreamUpdated    = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
	methodPush         = "urn:ietf:rfc:8935"
	methodPoll         = "urn:ietf:rfc:8936"
)

// pollReceiver is a second SSF receiver, besides the example's demo-receiver.
const pollReceiver = `
clients:
  - id: poll-receiver
    name: Second SSF receiver
    type: confidential
    secret: poll-receiver-secret
    grant_types: [client_credentials]
    scopes: [weft:ssf]
`

// ssfEnv is a running weft seen by SSF receivers.
type ssfEnv struct {
	*oidcEnv
	jwks jose.JSONWebKeySet
}

func newSSFEnv(t *testing.T, b sqltest.Backend) *ssfEnv {
	t.Helper()
	// The operator trusts demo-receiver with free-text reasons; poll-receiver gets
	// events without them (issue 9, L7).
	return &ssfEnv{oidcEnv: newOIDCEnvWith(t, b, pollReceiver, "WEFT_SSF_REASON_RECEIVERS=demo-receiver")}
}

func (e *ssfEnv) token(id, secret, scope string) string {
	e.t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.provider.Endpoint().TokenURL}
	if scope != "" {
		cc.Scopes = []string{scope}
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		e.t.Fatalf("%s token: %v", id, err)
	}
	return tok.AccessToken
}

// call sends a JSON request and decodes the answer into out (if not nil).
func (e *ssfEnv) call(method, path, bearer, body string, out any) (int, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.issuer+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b := readAll(e.t, resp)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			e.t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

type streamConfig struct {
	StreamID string `json:"stream_id"`
	Iss      string `json:"iss"`
	Aud      string `json:"aud"`
	Delivery struct {
		Method              string `json:"method"`
		EndpointURL         string `json:"endpoint_url"`
		AuthorizationHeader string `json:"authorization_header"`
	} `json:"delivery"`
	EventsSupported []string `json:"events_supported"`
	EventsRequested []string `json:"events_requested"`
	EventsDelivered []string `json:"events_delivered"`
	Description     string   `json:"description"`
}

func (e *ssfEnv) createStream(bearer, body string) streamConfig {
	e.t.Helper()
	var s streamConfig
	if code, _ := e.call(http.MethodPost, "/ssf/stream", bearer, body, &s); code != 201 || s.StreamID == "" {
		e.t.Fatalf("create stream: %d %+v", code, s)
	}
	return s
}

type pollAnswer struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

func (e *ssfEnv) poll(bearer, streamID, body string) pollAnswer {
	e.t.Helper()
	var out pollAnswer
	if code, _ := e.call(http.MethodPost, "/ssf/poll/"+streamID, bearer, body, &out); code != 200 {
		e.t.Fatalf("poll: %d", code)
	}
	return out
}

// verifySET checks a SET's header and signature against Weft's JWKS, as a receiver
// does with go-jose v4, and returns its claims.
func (e *ssfEnv) verifySET(raw string) map[string]any {
	e.t.Helper()
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		e.t.Fatalf("SET: %v", err)
	}
	if typ, _ := parsed.Headers[0].ExtraHeaders["typ"].(string); typ != "secevent+jwt" {
		e.t.Fatalf("SET typ = %q", typ)
	}
	if len(e.jwks.Keys) == 0 {
		resp, err := http.Get(e.issuer + "/.well-known/jwks.json")
		if err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(readAll(e.t, resp)), &e.jwks); err != nil {
			e.t.Fatal(err)
		}
	}
	keys := e.jwks.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		e.t.Fatal("the SET's kid is not in JWKS")
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		e.t.Fatalf("SET signature: %v", err)
	}
	if claims["iss"] != e.issuer || claims["jti"] == nil || claims["iat"] == nil {
		e.t.Fatalf("SET claims = %v", claims)
	}
	if _, ok := claims["exp"]; ok {
		e.t.Fatal("a SET carries no exp (RFC 8417 section 2.2)")
	}
	return claims
}

// event returns the single event of a SET: its type and body.
func event(t *testing.T, claims map[string]any) (string, map[string]any) {
	t.Helper()
	events, _ := claims["events"].(map[string]any)
	if len(events) != 1 {
		t.Fatalf("events = %v, want exactly one", claims["events"])
	}
	for typ, body := range events {
		m, _ := body.(map[string]any)
		return typ, m
	}
	return "", nil
}

// pushReceiver is an RFC 8935 receiver that answers 503 to its first down requests.
type pushReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
	sets  []string
	bad   []string // what arrived without the right headers
}

func newPushReceiver(t *testing.T, down int, auth string) *pushReceiver {
	p := &pushReceiver{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls++
		if p.calls <= down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/secevent+jwt" || r.Header.Get("Authorization") != auth {
			p.bad = append(p.bad, r.Method+" "+r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"err":"authentication_failed","description":"bad request"}`))
			return
		}
		p.sets = append(p.sets, string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pushReceiver) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bad) > 0 {
		panic("push receiver got malformed requests: " + strings.Join(p.bad, ", "))
	}
	return append([]string(nil), p.sets...)
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type receiptDelivery struct {
	Kind          string     `json:"kind"`
	Target        string     `json:"target"`
	Attempts      int        `json:"attempts"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	FailedAt      *time.Time `json:"failed_at"`
}

func (e *ssfEnv) receipt(soar, id string) []receiptDelivery {
	e.t.Helper()
	var r struct {
		Deliveries []receiptDelivery `json:"deliveries"`
	}
	if code, _ := e.call(http.MethodGet, "/api/v1/revocations/"+id, soar, "", &r); code != 200 {
		e.t.Fatalf("receipt: %d", code)
	}
	return r.Deliveries
}

func (e *ssfEnv) revoke(soar, body string) string {
	e.t.Helper()
	var rec struct{ ID string }
	if code, _ := e.call(http.MethodPost, "/api/v1/revocations", soar, body, &rec); code != 201 || rec.ID == "" {
		e.t.Fatalf("revoke %s: %d", body, code)
	}
	return rec.ID
}

// TestSSF_PushAndPoll: a push receiver and a poll receiver hear of a session revoked
// through the SOAR API, with signed SETs that verify against JWKS; the push receiver is
// down at first and still gets every event, and the receipt says how each was delivered.
func TestSSF_PushAndPoll(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			e := newSSFEnv(t, b)
			ctx := context.Background()

			// Discovery.
			var disc map[string]any
			if code, _ := e.call(http.MethodGet, "/.well-known/ssf-configuration", "", "", &disc); code != 200 {
				t.Fatalf("discovery: %d", code)
			}
			methods, _ := disc["delivery_methods_supported"].([]any)
			schemes, _ := disc["authorization_schemes"].([]any)
			if disc["spec_version"] != "1_0" || disc["issuer"] != e.issuer || disc["jwks_uri"] != e.issuer+"/.well-known/jwks.json" ||
				len(methods) != 2 || methods[0] != methodPush || methods[1] != methodPoll || disc["default_subjects"] != "NONE" ||
				disc["add_subject_endpoint"] != e.issuer+"/ssf/subjects:add" || disc["remove_subject_endpoint"] != e.issuer+"/ssf/subjects:remove" ||
				disc["configuration_endpoint"] != e.issuer+"/ssf/stream" || disc["status_endpoint"] != e.issuer+"/ssf/status" ||
				disc["verification_endpoint"] != e.issuer+"/ssf/verify" || len(schemes) != 1 ||
				schemes[0].(map[string]any)["spec_urn"] != "urn:ietf:rfc:6749" {
				t.Fatalf("discovery = %v", disc)
			}

			// Two receivers: demo-receiver pushes and asks for every subject's events;
			// poll-receiver polls, with the default subjects NONE.
			pushTok := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
			pollTok := e.token("poll-receiver", "poll-receiver-secret", "weft:ssf")
			rcv := newPushReceiver(t, 2, "Bearer receiver-secret-1")
			push := e.createStream(pushTok, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+rcv.URL+`/events","authorization_header":"Bearer receiver-secret-1"},`+
				`"events_requested":["`+evSessionRevoked+`","`+evAccountDisabled+`","urn:example:unknown"],"description":"push","default_subjects":"ALL"}`)
			if push.Aud != "demo-receiver" || push.Iss != e.issuer || push.Delivery.EndpointURL != rcv.URL+"/events" ||
				!slices.Equal(push.EventsDelivered, []string{evSessionRevoked, evAccountDisabled}) || push.Delivery.AuthorizationHeader != "" ||
				!slices.Contains(push.EventsSupported, evCredentialChange) {
				t.Fatalf("push stream = %+v", push)
			}
			poll := e.createStream(pollTok, `{"delivery":{"method":"`+methodPoll+`"},"events_requested":["`+evSessionRevoked+`"]}`)
			pollURL := e.issuer + "/ssf/poll/" + poll.StreamID
			if poll.Aud != "poll-receiver" || poll.Delivery.EndpointURL != pollURL {
				t.Fatalf("poll stream = %+v", poll)
			}

			// alice signs in; the SOAR tool revokes her session.
			v := oauth2.GenerateVerifier()
			cb := e.login(e.browser(), e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
			tok, err := e.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			_, intro := e.introspect(tok.AccessToken, "demo-gateway", "demo-gateway-secret")
			aliceID, sid := intro["sub"].(string), intro["sid"].(string)
			// The poll receiver relates to alice: it adds her as a subject.
			if code, _ := e.call(http.MethodPost, "/ssf/subjects:add", pollTok, `{"stream_id":"`+poll.StreamID+
				`","subject":{"format":"iss_sub","iss":"`+e.issuer+`","sub":"`+aliceID+`"}}`, nil); code != http.StatusOK {
				t.Fatalf("add subject: %d", code)
			}
			soar := e.token("demo-soar", "demo-soar-secret", "weft:revoke")
			revID := e.revoke(soar, `{"selector":{"type":"session","value":"`+sid+`"},"reason":"session hijack suspected"}`)

			// The SOAR's reason goes only to the receiver the operator trusts with it.
			checkSessionRevoked := func(claims map[string]any, aud string) {
				t.Helper()
				typ, body := event(t, claims)
				subID, _ := claims["sub_id"].(map[string]any)
				user, _ := subID["user"].(map[string]any)
				session, _ := subID["session"].(map[string]any)
				reason, _ := body["reason_admin"].(map[string]any)
				if claims["aud"] != aud || claims["txn"] != revID || typ != evSessionRevoked || subID["format"] != "complex" ||
					user["format"] != "iss_sub" || user["iss"] != e.issuer || user["sub"] != aliceID ||
					session["format"] != "opaque" || session["id"] != sid ||
					(aud == "demo-receiver") != (reason["en"] == "session hijack suspected") || (aud != "demo-receiver" && body["reason_admin"] != nil) ||
					body["initiating_entity"] != "policy" || body["event_timestamp"] == nil {
					t.Fatalf("session-revoked SET for %s = %v", aud, claims)
				}
			}

			// The push receiver was down twice, then got it once.
			waitFor(t, "the pushed SET", func() bool { return len(rcv.received()) == 1 })
			pushed := e.verifySET(rcv.received()[0])
			checkSessionRevoked(pushed, "demo-receiver")

			// The poll receiver gets the same event, and nothing more after acknowledging it.
			got := e.poll(pollTok, poll.StreamID, `{"returnImmediately":true}`)
			if len(got.Sets) != 1 || got.MoreAvailable {
				t.Fatalf("poll = %+v", got)
			}
			var jti string
			for k, set := range got.Sets {
				jti = k
				claims := e.verifySET(set)
				checkSessionRevoked(claims, "poll-receiver")
				if claims["jti"] != jti {
					t.Fatalf("sets key %s is not the jti %v", jti, claims["jti"])
				}
			}
			// Unacknowledged, it is served again: a receiver that lost an answer loses nothing.
			if again := e.poll(pollTok, poll.StreamID, `{"returnImmediately":true}`); len(again.Sets) != 1 || again.Sets[jti] == "" {
				t.Fatalf("second poll before ack = %+v", again)
			}
			// Only the stream's owner may poll it or acknowledge its SETs.
			if code, _ := e.call(http.MethodPost, "/ssf/poll/"+poll.StreamID, pushTok, `{"ack":["`+jti+`"],"returnImmediately":true}`, nil); code != 404 {
				t.Fatalf("another receiver polling: %d", code)
			}
			if after := e.poll(pollTok, poll.StreamID, `{"ack":["`+jti+`"],"returnImmediately":true}`); len(after.Sets) != 0 || after.MoreAvailable {
				t.Fatalf("poll after ack = %+v", after)
			}
			if after := e.poll(pollTok, poll.StreamID, `{"returnImmediately":true}`); len(after.Sets) != 0 {
				t.Fatalf("poll after ack returned more: %+v", after)
			}

			// The receipt: the logout-less session had two SSF deliveries.
			var pushD, pollD *receiptDelivery
			ds := e.receipt(soar, revID)
			for i := range ds {
				switch ds[i].Kind {
				case "ssf_push":
					pushD = &ds[i]
				case "ssf_poll":
					pollD = &ds[i]
				}
			}
			if len(ds) != 2 || pushD == nil || pollD == nil {
				t.Fatalf("receipt deliveries = %+v", ds)
			}
			if pushD.Target != rcv.URL+"/events" || pushD.Attempts != 2 || pushD.DeliveredAt == nil || pushD.NextAttemptAt != nil ||
				pushD.FailedAt != nil || pushD.LastError != "" {
				t.Fatalf("push delivery = %+v, want delivered after two failed attempts", *pushD)
			}
			if pollD.Target != pollURL || pollD.DeliveredAt == nil || pollD.Attempts != 2 || pollD.NextAttemptAt != nil || pollD.FailedAt != nil {
				t.Fatalf("poll delivery = %+v, want acknowledged after being served twice", *pollD)
			}
			if iat := int64(pushed["iat"].(float64)); pushD.DeliveredAt.Unix() < iat {
				t.Fatalf("delivered_at %v before the SET was issued (%d)", pushD.DeliveredAt, iat)
			}

			// Suspending alice through a revocation: account-disabled to the push stream
			// (which asked for it), nothing to the poll stream (which did not).
			revID2 := e.revoke(soar, `{"selector":{"type":"subject","value":"`+aliceID+`"},"reason":"impossible travel","suspend":true}`)
			waitFor(t, "account-disabled", func() bool { return len(rcv.received()) == 2 })
			claims := e.verifySET(rcv.received()[1])
			typ, body := event(t, claims)
			subID, _ := claims["sub_id"].(map[string]any)
			if typ != evAccountDisabled || claims["txn"] != revID2 || subID["format"] != "iss_sub" || subID["sub"] != aliceID ||
				subID["iss"] != e.issuer || body["initiating_entity"] != "policy" || body["reason_admin"].(map[string]any)["en"] != "impossible travel" {
				t.Fatalf("account-disabled SET = %v", claims)
			}
			if got := e.poll(pollTok, poll.StreamID, `{"returnImmediately":true}`); len(got.Sets) != 0 {
				t.Fatalf("the poll stream got events it did not ask for: %+v", got)
			}
			if ds := e.receipt(soar, revID2); len(ds) != 1 || ds[0].Kind != "ssf_push" || ds[0].DeliveredAt == nil {
				t.Fatalf("receipt of the suspension = %+v", ds)
			}
		})
	}
}

// pollEvents polls (acknowledging everything it gets) and returns the events by type.
func (e *ssfEnv) pollEvents(bearer, streamID string) map[string][]map[string]any {
	e.t.Helper()
	got := e.poll(bearer, streamID, `{"returnImmediately":true}`)
	out := map[string][]map[string]any{}
	var acks []string
	for jti, set := range got.Sets {
		claims := e.verifySET(set)
		typ, _ := event(e.t, claims)
		out[typ] = append(out[typ], claims)
		acks = append(acks, `"`+jti+`"`)
	}
	if len(acks) > 0 {
		e.poll(bearer, streamID, `{"maxEvents":0,"ack":[`+strings.Join(acks, ",")+`]}`)
	}
	return out
}

// TestSSF_StatusVerificationAndDirectory: verification events carry the receiver's
// state; a paused stream holds events until enabled; a disabled one drops them; password
// and status changes made with the CLI reach receivers.
func TestSSF_StatusVerificationAndDirectory(t *testing.T) {
	e := newSSFEnv(t, sqltest.SQLite)
	tok := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	s := e.createStream(tok, `{"delivery":{"method":"`+methodPoll+`"},"default_subjects":"ALL","events_requested":["`+evCredentialChange+`","`+evAccountDisabled+`","`+evAccountEnabled+`"]}`)
	status := func() string {
		var st struct{ Status string }
		if code, _ := e.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, tok, "", &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		return st.Status
	}
	setStatus := func(to string) {
		var st struct {
			StreamID string `json:"stream_id"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
		}
		if code, _ := e.call(http.MethodPost, "/ssf/status", tok, `{"stream_id":"`+s.StreamID+`","status":"`+to+`","reason":"maintenance"}`, &st); code != 200 ||
			st.Status != to || st.StreamID != s.StreamID || st.Reason != "maintenance" {
			t.Fatalf("set status %s: %d %+v", to, code, st)
		}
	}
	if status() != "enabled" {
		t.Fatal("a new stream is not enabled")
	}

	// Verification.
	if code, _ := e.call(http.MethodPost, "/ssf/verify", tok, `{"stream_id":"`+s.StreamID+`","state":"VGhpcyBpcyBhbiBleGFtcGxl"}`, nil); code != 204 {
		t.Fatalf("verify: %d", code)
	}
	ev := e.pollEvents(tok, s.StreamID)
	if len(ev) != 1 || len(ev[evVerification]) != 1 {
		t.Fatalf("after verify: %v", ev)
	}
	v := ev[evVerification][0]
	_, body := event(t, v)
	if sub := v["sub_id"].(map[string]any); sub["format"] != "opaque" || sub["id"] != s.StreamID || body["state"] != "VGhpcyBpcyBhbiBleGFtcGxl" || v["aud"] != "demo-receiver" {
		t.Fatalf("verification SET = %v", v)
	}

	// A password set with the CLI while paused is held, then delivered once enabled.
	bob := e.cli.ok("", "user", "show", "bob", "-o", "json")
	var bobView userView
	if err := json.Unmarshal([]byte(bob), &bobView); err != nil || bobView.ID == "" {
		t.Fatalf("user show bob: %v\n%s", err, bob)
	}
	setStatus("paused")
	e.cli.ok("bob-new-password-123\n", "user", "set-password", "bob", "--password-stdin")
	if status() != "paused" {
		t.Fatal("status is not paused")
	}
	if held := e.poll(tok, s.StreamID, `{"returnImmediately":true}`); len(held.Sets) != 0 {
		t.Fatalf("a paused stream delivered %d SETs", len(held.Sets))
	}
	setStatus("enabled")
	ev = e.pollEvents(tok, s.StreamID)
	if len(ev[evCredentialChange]) != 1 || len(ev[evStreamUpdated]) != 2 || len(ev) != 2 {
		t.Fatalf("after enabling: %v", ev)
	}
	cc := ev[evCredentialChange][0]
	_, body = event(t, cc)
	if sub := cc["sub_id"].(map[string]any); sub["format"] != "iss_sub" || sub["sub"] != bobView.ID || body["credential_type"] != "password" ||
		body["change_type"] != "update" || body["initiating_entity"] != "admin" || cc["txn"] != nil {
		t.Fatalf("credential-change SET = %v", cc)
	}

	// Disabled: events are dropped, not held.
	setStatus("disabled")
	e.cli.ok("", "user", "suspend", "bob")
	setStatus("enabled")
	ev = e.pollEvents(tok, s.StreamID)
	if len(ev) != 1 || len(ev[evStreamUpdated]) != 1 {
		t.Fatalf("a disabled stream kept events: %v", ev)
	}
	if _, body := event(t, ev[evStreamUpdated][0]); body["status"] != "enabled" {
		t.Fatalf("stream-updated = %v", body)
	}

	// Enabled: status changes through the CLI reach the receiver at once.
	e.cli.ok("", "user", "activate", "bob")
	e.cli.ok("", "user", "suspend", "bob")
	ev = e.pollEvents(tok, s.StreamID)
	if len(ev[evAccountEnabled]) != 1 || len(ev[evAccountDisabled]) != 1 || len(ev) != 2 {
		t.Fatalf("after activate and suspend: %v", ev)
	}
	if sub := ev[evAccountDisabled][0]["sub_id"].(map[string]any); sub["sub"] != bobView.ID {
		t.Fatalf("account-disabled subject = %v", sub)
	}

	// Deleting the stream: it is gone, and its poll URL with it.
	if code, _ := e.call(http.MethodDelete, "/ssf/stream?stream_id="+s.StreamID, tok, "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.call(http.MethodGet, "/ssf/stream?stream_id="+s.StreamID, tok, "", nil); code != 404 {
		t.Fatalf("read after delete: %d", code)
	}
	if code, _ := e.call(http.MethodPost, "/ssf/poll/"+s.StreamID, tok, `{"returnImmediately":true}`, nil); code != 404 {
		t.Fatalf("poll after delete: %d", code)
	}
}

// TestSSF_Authorization: stream management needs a token with weft:ssf, and a
// receiver sees and changes only its own streams: another's is a 404 everywhere.
func TestSSF_Authorization(t *testing.T) {
	e := newSSFEnv(t, sqltest.SQLite)
	mine := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	other := e.token("poll-receiver", "poll-receiver-secret", "weft:ssf")
	noScope := e.token("demo-m2m", "demo-m2m-secret", "api.read")
	s := e.createStream(mine, `{"delivery":{"method":"`+methodPoll+`"},"events_requested":["`+evSessionRevoked+`"],"description":"mine"}`)
	theirs := e.createStream(other, `{"delivery":{"method":"`+methodPoll+`"}}`)

	calls := []struct{ method, path, body string }{
		{http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `"}}`},
		{http.MethodGet, "/ssf/stream", ""},
		{http.MethodGet, "/ssf/stream?stream_id=" + s.StreamID, ""},
		{http.MethodPatch, "/ssf/stream", `{"stream_id":"` + s.StreamID + `","description":"changed"}`},
		{http.MethodPut, "/ssf/stream", `{"stream_id":"` + s.StreamID + `","delivery":{"method":"` + methodPoll + `"}}`},
		{http.MethodDelete, "/ssf/stream?stream_id=" + s.StreamID, ""},
		{http.MethodGet, "/ssf/status?stream_id=" + s.StreamID, ""},
		{http.MethodPost, "/ssf/status", `{"stream_id":"` + s.StreamID + `","status":"disabled"}`},
		{http.MethodPost, "/ssf/verify", `{"stream_id":"` + s.StreamID + `"}`},
		{http.MethodPost, "/ssf/poll/" + s.StreamID, `{"returnImmediately":true}`},
	}
	for _, c := range calls {
		for _, tc := range []struct {
			name, bearer string
			want         int
		}{
			{"no token", "", 401},
			{"bad token", "not-a-token", 401},
			{"no weft:ssf", noScope, 403},
		} {
			code, hdr := e.call(c.method, c.path, tc.bearer, c.body, nil)
			if code != tc.want || hdr.Get("Content-Type") != "application/problem+json" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s with %s: %d %s", c.method, c.path, tc.name, code, hdr.Get("Content-Type"))
			}
		}
		if c.method == http.MethodPost && c.path == "/ssf/stream" || c.method == http.MethodGet && c.path == "/ssf/stream" {
			continue
		}
		// Another receiver: the same answer as for a stream that does not exist.
		code, hdr := e.call(c.method, c.path, other, c.body, nil)
		if code != 404 || hdr.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s as another receiver: %d", c.method, c.path, code)
		}
		missing := strings.ReplaceAll(c.path, s.StreamID, "no-such-stream")
		if code2, _ := e.call(c.method, missing, other, strings.ReplaceAll(c.body, s.StreamID, "no-such-stream"), nil); code2 != code {
			t.Fatalf("%s %s: another's stream answers %d, a missing one %d", c.method, c.path, code, code2)
		}
	}
	// Nothing changed, and each receiver lists only its own streams.
	var list []streamConfig
	if code, _ := e.call(http.MethodGet, "/ssf/stream", mine, "", &list); code != 200 || len(list) != 1 || list[0].StreamID != s.StreamID ||
		list[0].Description != "mine" {
		t.Fatalf("my streams: %d %+v", code, list)
	}
	if code, _ := e.call(http.MethodGet, "/ssf/stream", other, "", &list); code != 200 || len(list) != 1 || list[0].StreamID != theirs.StreamID {
		t.Fatalf("their streams: %d %+v", code, list)
	}
	var st struct{ Status string }
	if e.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, mine, "", &st); st.Status != "enabled" {
		t.Fatalf("status = %q after refused calls", st.Status)
	}
}

// TestSSF_BadInput: malformed or invalid requests get 400 problem+json and change
// nothing.
func TestSSF_BadInput(t *testing.T) {
	e := newSSFEnv(t, sqltest.SQLite)
	tok := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	rcv := newPushReceiver(t, 0, "")
	s := e.createStream(tok, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+rcv.URL+`/e"},"events_requested":["`+evSessionRevoked+`"],"description":"keep"}`)
	id := s.StreamID
	push := func(url string) string {
		return `{"delivery":{"method":"` + methodPush + `","endpoint_url":"` + url + `"}}`
	}
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"bad JSON", http.MethodPost, "/ssf/stream", `{"delivery":`},
		{"not an object", http.MethodPost, "/ssf/stream", `[]`},
		{"two objects", http.MethodPost, "/ssf/stream", push("https://rcv.example.com/e") + `{}`},
		{"unknown field", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `"},"format":"x"}`},
		{"unknown delivery field", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `","mode":"x"}}`},
		{"no delivery", http.MethodPost, "/ssf/stream", `{"events_requested":[]}`},
		{"unknown method", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"urn:example:carrier-pigeon"}}`},
		{"push without URL", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPush + `"}}`},
		{"http push URL", http.MethodPost, "/ssf/stream", push("http://rcv.example.com/e")},
		{"relative push URL", http.MethodPost, "/ssf/stream", push("/e")},
		{"push URL with fragment", http.MethodPost, "/ssf/stream", push("https://rcv.example.com/e#x")},
		{"push URL with user", http.MethodPost, "/ssf/stream", push("https://u:p@rcv.example.com/e")},
		{"ftp push URL", http.MethodPost, "/ssf/stream", push("ftp://rcv.example.com/e")},
		{"poll with URL", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `","endpoint_url":"https://rcv.example.com/e"}}`},
		{"header with newline", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPush + `","endpoint_url":"https://rcv.example.com/e","authorization_header":"Bearer x\r\nX-Evil: 1"}}`},
		{"stream_id on create", http.MethodPost, "/ssf/stream", `{"stream_id":"mine","delivery":{"method":"` + methodPoll + `"}}`},
		{"wrong iss", http.MethodPost, "/ssf/stream", `{"iss":"https://evil.example.com","delivery":{"method":"` + methodPoll + `"}}`},
		{"wrong aud", http.MethodPost, "/ssf/stream", `{"aud":"someone-else","delivery":{"method":"` + methodPoll + `"}}`},
		{"empty event type", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `"},"events_requested":[""]}`},
		{"events not strings", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `"},"events_requested":[1]}`},
		{"long description", http.MethodPost, "/ssf/stream", `{"delivery":{"method":"` + methodPoll + `"},"description":"` + strings.Repeat("x", 1025) + `"}`},
		{"patch without id", http.MethodPatch, "/ssf/stream", `{"description":"x"}`},
		{"patch to http URL", http.MethodPatch, "/ssf/stream", `{"stream_id":"` + id + `","delivery":{"method":"` + methodPush + `","endpoint_url":"http://rcv.example.com/e"}}`},
		{"patch method", http.MethodPatch, "/ssf/stream", `{"stream_id":"` + id + `","delivery":{"method":"` + methodPoll + `"},"description":"changed"}`},
		{"patch unknown field", http.MethodPatch, "/ssf/stream", `{"stream_id":"` + id + `","description":"changed","colour":"red"}`},
		{"put without delivery", http.MethodPut, "/ssf/stream", `{"stream_id":"` + id + `","description":"changed"}`},
		{"delete without id", http.MethodDelete, "/ssf/stream", ""},
		{"unknown status", http.MethodPost, "/ssf/status", `{"stream_id":"` + id + `","status":"asleep"}`},
		{"status without id", http.MethodPost, "/ssf/status", `{"status":"paused"}`},
		{"status bad JSON", http.MethodPost, "/ssf/status", `status=paused`},
		{"verify unknown field", http.MethodPost, "/ssf/verify", `{"stream_id":"` + id + `","nonce":"x"}`},
		{"verify without id", http.MethodPost, "/ssf/verify", `{"state":"x"}`},
		{"poll a push stream", http.MethodPost, "/ssf/poll/" + id, `{"returnImmediately":true}`},
		{"poll negative maxEvents", http.MethodPost, "/ssf/poll/" + id, `{"maxEvents":-1}`},
		{"poll unknown field", http.MethodPost, "/ssf/poll/" + id, `{"max":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p map[string]any
			code, hdr := e.call(tc.method, tc.path, tok, tc.body, &p)
			if code != 400 || hdr.Get("Content-Type") != "application/problem+json" || p["detail"] == nil {
				t.Fatalf("%d %s %v", code, hdr.Get("Content-Type"), p)
			}
		})
	}
	var list []streamConfig
	if code, _ := e.call(http.MethodGet, "/ssf/stream", tok, "", &list); code != 200 || len(list) != 1 {
		t.Fatalf("streams after bad input: %d %+v", code, list)
	}
	if got := list[0]; got.StreamID != id || got.Description != "keep" || got.Delivery.Method != methodPush ||
		got.Delivery.EndpointURL != rcv.URL+"/e" || !slices.Equal(got.EventsRequested, []string{evSessionRevoked}) {
		t.Fatalf("stream changed by bad input: %+v", got)
	}
	var st struct{ Status string }
	if e.call(http.MethodGet, "/ssf/status?stream_id="+id, tok, "", &st); st.Status != "enabled" {
		t.Fatalf("status = %q", st.Status)
	}

	// A good PATCH changes only what it names; PUT replaces.
	var got streamConfig
	if code, _ := e.call(http.MethodPatch, "/ssf/stream", tok, `{"stream_id":"`+id+`","description":"renamed"}`, &got); code != 200 ||
		got.Description != "renamed" || got.Delivery.EndpointURL != rcv.URL+"/e" || !slices.Equal(got.EventsRequested, []string{evSessionRevoked}) {
		t.Fatalf("patch: %d %+v", code, got)
	}
	got = streamConfig{}
	if code, _ := e.call(http.MethodPut, "/ssf/stream", tok, `{"stream_id":"`+id+`","iss":"`+e.issuer+`","aud":"demo-receiver",`+
		`"delivery":{"method":"`+methodPush+`","endpoint_url":"`+rcv.URL+`/v2"}}`, &got); code != 200 ||
		got.Description != "" || got.Delivery.EndpointURL != rcv.URL+"/v2" || len(got.EventsRequested) != 0 || len(got.EventsDelivered) != 0 {
		t.Fatalf("put: %d %+v", code, got)
	}
}

// TestSSF_SurvivesRestartAndRefusal: an event queued while its receiver is down is
// delivered by the next server process once the receiver is back; a receiver that
// refuses a SET with 400 is not retried, and the receipt says why.
func TestSSF_SurvivesRestartAndRefusal(t *testing.T) {
	e := newSSFEnv(t, sqltest.Postgres)
	var (
		mu   sync.Mutex
		up   bool
		sets []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		sets = append(sets, string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rcv.Close()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"err":"invalid_key","description":"unknown kid"}`))
	}))
	defer refusing.Close()
	tok := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	e.createStream(tok, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+rcv.URL+`"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`"]}`)
	e.createStream(tok, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+refusing.URL+`"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`"]}`)

	v := oauth2.GenerateVerifier()
	cb := e.login(e.browser(), e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "bob", "bob-demo-password-1")
	tk, err := e.web.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	_, intro := e.introspect(tk.AccessToken, "demo-gateway", "demo-gateway-secret")
	soar := e.token("demo-soar", "demo-soar-secret", "weft:revoke")
	revID := e.revoke(soar, `{"selector":{"type":"session","value":"`+intro["sid"].(string)+`"},"reason":"lost laptop"}`)

	find := func(target string) receiptDelivery {
		for _, d := range e.receipt(soar, revID) {
			if d.Target == target {
				return d
			}
		}
		t.Fatalf("no delivery to %s in the receipt", target)
		return receiptDelivery{}
	}
	waitFor(t, "a failed attempt and a refusal", func() bool {
		return find(rcv.URL).Attempts >= 1 && find(refusing.URL).FailedAt != nil
	})
	if d := find(rcv.URL); d.DeliveredAt != nil || d.LastError != "receiver answered 503" || d.NextAttemptAt == nil {
		t.Fatalf("delivery to the receiver that is down = %+v", d)
	}
	if d := find(refusing.URL); d.Attempts != 1 || d.DeliveredAt != nil || d.NextAttemptAt != nil ||
		d.LastError != "permanent delivery failure: receiver rejected the SET (400): invalid_key: unknown kid" {
		t.Fatalf("refused delivery = %+v", d)
	}

	// The node goes away with the event undelivered; another process takes over.
	if err := e.srv.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	e.srv = startServerAt(t, e.cli.environ, strings.TrimPrefix(e.issuer, "http://"))
	waitFor(t, "delivery after the restart", func() bool { return find(rcv.URL).DeliveredAt != nil })
	mu.Lock()
	got := append([]string(nil), sets...)
	mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("receiver got %d SETs, want 1", len(got))
	}
	if claims := e.verifySET(got[0]); claims["txn"] != revID {
		t.Fatalf("SET after restart = %v", claims)
	}
	if d := find(refusing.URL); d.Attempts != 1 || d.FailedAt == nil {
		t.Fatalf("the refused SET was retried: %+v", d)
	}
}
