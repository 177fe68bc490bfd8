package access_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// Cheap argon2id parameters: these tests are about the registry, not hashing cost.
var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func testHasher(t *testing.T) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// wantField fails unless err is a *identity.ValidationError for field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *identity.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("err = %v; want a *identity.ValidationError for %q", err, field)
	}
	if ve.Field != field {
		t.Fatalf("ValidationError.Field = %q (%v); want %q", ve.Field, err, field)
	}
}

func webSpec() access.ClientSpec {
	return access.ClientSpec{
		ID: "demo-web", Name: "Demo web app", Type: access.Confidential, Secret: "a-long-enough-secret",
		RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes:   []string{access.GrantAuthorizationCode, access.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "email", "offline_access"},
	}
}

func spaSpec() access.ClientSpec {
	return access.ClientSpec{
		ID: "demo-spa", Name: "Demo SPA", Type: access.Public,
		RedirectURIs: []string{"https://spa.example.com/callback", "http://localhost:5173/callback"},
		GrantTypes:   []string{access.GrantAuthorizationCode, access.GrantRefreshToken},
		Scopes:       []string{"openid"},
	}
}

func m2mSpec(hash string) access.ClientSpec {
	return access.ClientSpec{
		ID: "demo-m2m", Name: "Demo machine client", Type: access.Confidential, SecretHash: hash,
		GrantTypes: []string{access.GrantClientCredentials},
		Scopes:     []string{"api.read", "api.write"},
	}
}

func TestClientSpec_Validate(t *testing.T) {
	h := testHasher(t)
	hash, err := h.Hash("m2m-secret-value")
	if err != nil {
		t.Fatal(err)
	}
	withRedirect := func(uri string) func(*access.ClientSpec) {
		return func(s *access.ClientSpec) { s.RedirectURIs = []string{uri} }
	}
	withScope := func(sc string) func(*access.ClientSpec) {
		return func(s *access.ClientSpec) { s.Scopes = []string{"openid", sc} }
	}
	cases := []struct {
		name   string
		base   access.ClientSpec
		mutate func(*access.ClientSpec)
		field  string // "" means valid
	}{
		{"confidential web client", webSpec(), nil, ""},
		{"public SPA", spaSpec(), nil, ""},
		{"machine client with secret hash", m2mSpec(hash), nil, ""},
		{"machine client with secret", m2mSpec(""), func(s *access.ClientSpec) { s.Secret = "m2m-secret-value" }, ""},
		{"secret of exactly the minimum length", webSpec(), func(s *access.ClientSpec) { s.Secret = strings.Repeat("s", access.MinClientSecretLen) }, ""},
		{"id with every allowed symbol", webSpec(), func(s *access.ClientSpec) { s.ID = "Az09-._~" }, ""},
		{"no scopes", webSpec(), func(s *access.ClientSpec) { s.Scopes = nil }, ""},
		{"scope with punctuation", webSpec(), withScope("https://api.example.com/read!#$%&'()*+,-./:;<=>?@[]^_`{|}~"), ""},

		// Redirect URIs that must be accepted.
		{"loopback IPv4 with port", webSpec(), withRedirect("http://127.0.0.1:8000/cb"), ""},
		{"loopback IPv6", webSpec(), withRedirect("http://[::1]/cb"), ""},
		{"localhost", webSpec(), withRedirect("http://localhost/cb"), ""},
		{"https", webSpec(), withRedirect("https://app.example.com/cb"), ""},
		{"https with query", webSpec(), withRedirect("https://app.example.com/cb?tenant=1"), ""},
		{"private-use scheme", spaSpec(), withRedirect("com.example.app:/oauth"), ""},

		{"empty id", webSpec(), func(s *access.ClientSpec) { s.ID = "" }, "id"},
		{"id with space", webSpec(), func(s *access.ClientSpec) { s.ID = "demo web" }, "id"},
		{"id with slash", webSpec(), func(s *access.ClientSpec) { s.ID = "demo/web" }, "id"},
		{"id with colon", webSpec(), func(s *access.ClientSpec) { s.ID = "demo:web" }, "id"},
		{"id with non-ASCII letter", webSpec(), func(s *access.ClientSpec) { s.ID = "démo" }, "id"},
		{"id too long", webSpec(), func(s *access.ClientSpec) { s.ID = strings.Repeat("a", 129) }, "id"},
		{"missing name", webSpec(), func(s *access.ClientSpec) { s.Name = "" }, "name"},
		{"blank name", webSpec(), func(s *access.ClientSpec) { s.Name = " \t " }, "name"},
		{"bad type", webSpec(), func(s *access.ClientSpec) { s.Type = "private" }, "type"},
		{"empty type", webSpec(), func(s *access.ClientSpec) { s.Type = "" }, "type"},

		{"confidential without secret", webSpec(), func(s *access.ClientSpec) { s.Secret = "" }, "secret"},
		{"secret and secret hash", webSpec(), func(s *access.ClientSpec) { s.SecretHash = hash }, "secret"},
		{"short secret", webSpec(), func(s *access.ClientSpec) { s.Secret = strings.Repeat("s", access.MinClientSecretLen-1) }, "secret"},
		{"secret too long", webSpec(), func(s *access.ClientSpec) { s.Secret = strings.Repeat("s", password.MaxLen+1) }, "secret"},
		{"malformed secret hash", m2mSpec("$2a$10$abcdefghijklmnopqrstuv"), nil, "secret_hash"},
		{"secret hash with insane memory", m2mSpec(strings.Replace(hash, "m=8192,", "m=99999999,", 1)), nil, "secret_hash"},
		{"public with secret", spaSpec(), func(s *access.ClientSpec) { s.Secret = "a-long-enough-secret" }, "secret"},
		{"public with secret hash", spaSpec(), func(s *access.ClientSpec) { s.SecretHash = hash }, "secret"},

		{"no grant types", webSpec(), func(s *access.ClientSpec) { s.GrantTypes = nil }, "grant_types"},
		{"implicit grant", spaSpec(), func(s *access.ClientSpec) { s.GrantTypes = []string{access.GrantAuthorizationCode, "implicit"} }, "grant_types"},
		{"password grant", webSpec(), func(s *access.ClientSpec) { s.GrantTypes = []string{"password"}; s.RedirectURIs = nil }, "grant_types"},
		{"grant in other case", webSpec(), func(s *access.ClientSpec) { s.GrantTypes = []string{"Authorization_Code"} }, "grant_types"},
		{"duplicate grant", webSpec(), func(s *access.ClientSpec) {
			s.GrantTypes = []string{access.GrantAuthorizationCode, access.GrantRefreshToken, access.GrantAuthorizationCode}
		}, "grant_types"},
		{"client_credentials on public", spaSpec(), func(s *access.ClientSpec) {
			s.GrantTypes = []string{access.GrantClientCredentials}
			s.RedirectURIs = nil
		}, "grant_types"},
		{"refresh_token without authorization_code", m2mSpec(hash), func(s *access.ClientSpec) {
			s.GrantTypes = []string{access.GrantClientCredentials, access.GrantRefreshToken}
		}, "grant_types"},

		{"authorization_code without redirect URIs", webSpec(), func(s *access.ClientSpec) { s.RedirectURIs = nil }, "redirect_uris"},
		{"redirect URIs without authorization_code", m2mSpec(hash), func(s *access.ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb"} }, "redirect_uris"},
		{"duplicate redirect URI", webSpec(), func(s *access.ClientSpec) {
			s.RedirectURIs = []string{"https://app.example.com/cb", "https://app.example.com/cb"}
		}, "redirect_uris"},
		{"relative redirect", webSpec(), withRedirect("/cb"), "redirect_uris"},
		{"scheme-relative redirect", webSpec(), withRedirect("//app.example.com/cb"), "redirect_uris"},
		{"redirect with fragment", webSpec(), withRedirect("https://app.example.com/cb#frag"), "redirect_uris"},
		{"redirect with empty fragment", webSpec(), withRedirect("https://app.example.com/cb#"), "redirect_uris"},
		{"redirect with userinfo", webSpec(), withRedirect("https://user:pw@app.example.com/cb"), "redirect_uris"},
		{"redirect with user only", webSpec(), withRedirect("https://user@app.example.com/cb"), "redirect_uris"},
		{"wildcard redirect host", webSpec(), withRedirect("https://*.example.com/cb"), "redirect_uris"},
		{"encoded wildcard redirect", webSpec(), withRedirect("https://app.example.com/%2A"), "redirect_uris"},
		{"https without host", webSpec(), withRedirect("https:///cb"), "redirect_uris"},
		{"http non-loopback", webSpec(), withRedirect("http://app.example.com/cb"), "redirect_uris"},
		{"http localhost look-alike", webSpec(), withRedirect("http://localhost.example.com/cb"), "redirect_uris"},
		{"http 0.0.0.0", webSpec(), withRedirect("http://0.0.0.0/cb"), "redirect_uris"},
		{"upper-case HTTP non-loopback", webSpec(), withRedirect("HTTP://app.example.com/cb"), "redirect_uris"},
		{"javascript scheme", webSpec(), withRedirect("javascript:alert(1)"), "redirect_uris"},
		{"javascript scheme, mixed case", webSpec(), withRedirect("JavaScript:alert(1)"), "redirect_uris"},
		{"data scheme", webSpec(), withRedirect("data:text/html,hi"), "redirect_uris"},
		{"file scheme", webSpec(), withRedirect("file:///etc/passwd"), "redirect_uris"},
		{"custom scheme without a dot", spaSpec(), withRedirect("myapp:/oauth"), "redirect_uris"},
		{"too many redirect URIs", webSpec(), func(s *access.ClientSpec) {
			s.RedirectURIs = nil
			for i := range 33 {
				s.RedirectURIs = append(s.RedirectURIs, "https://app.example.com/cb/"+strings.Repeat("x", i+1))
			}
		}, "redirect_uris"},

		{"scope with space", webSpec(), withScope("read write"), "scopes"},
		{"scope with quote", webSpec(), withScope(`re"ad`), "scopes"},
		{"scope with backslash", webSpec(), withScope(`re\ad`), "scopes"},
		{"empty scope", webSpec(), withScope(""), "scopes"},
		{"scope with tab", webSpec(), withScope("re\tad"), "scopes"},
		{"scope with DEL", webSpec(), withScope("re\x7fad"), "scopes"},
		{"scope with non-ASCII", webSpec(), withScope("lecture-é"), "scopes"},
		{"scope too long", webSpec(), withScope(strings.Repeat("s", 129)), "scopes"},
		{"duplicate scope", webSpec(), func(s *access.ClientSpec) { s.Scopes = []string{"openid", "profile", "openid"} }, "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base
			if tc.mutate != nil {
				tc.mutate(&s)
			}
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v; want nil", s, err)
				}
				return
			}
			wantField(t, err, tc.field)
		})
	}
}

type env struct {
	db      *sqlstore.DB
	dir     *identity.Directory
	store   *accsql.Clients
	clients *access.Clients
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			db := sqltest.Open(t, b)
			h := testHasher(t)
			users := sqlstore.NewDirectory(db)
			store := accsql.NewClients(db)
			fn(t, &env{db: db, dir: identity.NewDirectory(users, db, h), store: store,
				clients: access.NewClients(store, users, db, h)})
		})
	}
}

func (e *env) client(t *testing.T, id string) access.Client {
	t.Helper()
	c, err := e.clients.Client(context.Background(), id)
	if err != nil {
		t.Fatalf("Client(%s): %v", id, err)
	}
	return c
}

func (e *env) apply(t *testing.T, spec access.ClientSpec, wantCreated, wantChanged bool) access.Client {
	t.Helper()
	created, changed, err := e.clients.Apply(context.Background(), spec)
	if err != nil || created != wantCreated || changed != wantChanged {
		t.Fatalf("Apply(%s) = created %v, changed %v, %v; want created %v, changed %v",
			spec.ID, created, changed, err, wantCreated, wantChanged)
	}
	return e.client(t, spec.ID)
}

func TestClients_Apply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, err := e.dir.CreateUser(ctx, identity.NewUser{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		spec := webSpec()
		spec.OwnerID = owner.ID

		first := e.apply(t, spec, true, true)
		if first.ID != spec.ID || first.Name != spec.Name || first.Type != access.Confidential || first.OwnerID != owner.ID ||
			!slices.Equal(first.RedirectURIs, spec.RedirectURIs) || !slices.Equal(first.GrantTypes, spec.GrantTypes) ||
			!slices.Equal(first.Scopes, spec.Scopes) || first.CreatedAt.IsZero() || !first.UpdatedAt.Equal(first.CreatedAt) {
			t.Fatalf("stored %+v; want the spec %+v", first, spec)
		}
		if strings.Contains(first.SecretHash, spec.Secret) || password.Verify(spec.Secret, first.SecretHash) != nil {
			t.Fatalf("stored secret hash %q is not an argon2id hash of the secret", first.SecretHash)
		}

		// The same definition again writes nothing; the secret is not re-salted.
		again := e.apply(t, spec, false, false)
		if again.SecretHash != first.SecretHash || !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatalf("re-applying the same spec rewrote the client: %+v; was %+v", again, first)
		}

		spec.Scopes = []string{"openid", "profile"}
		scoped := e.apply(t, spec, false, true)
		if !slices.Equal(scoped.Scopes, spec.Scopes) || scoped.SecretHash != first.SecretHash ||
			!scoped.UpdatedAt.After(first.UpdatedAt) || !scoped.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("after changing scopes: %+v", scoped)
		}
		e.apply(t, spec, false, false)

		oldSecret := spec.Secret
		spec.Secret = "a-brand-new-secret-value"
		rotated := e.apply(t, spec, false, true)
		if rotated.SecretHash == first.SecretHash || password.Verify(spec.Secret, rotated.SecretHash) != nil {
			t.Fatalf("after changing the secret, hash %q does not verify the new secret", rotated.SecretHash)
		}
		if password.Verify(oldSecret, rotated.SecretHash) == nil {
			t.Fatal("the old secret still verifies after rotation")
		}
		if again := e.apply(t, spec, false, false); again.SecretHash != rotated.SecretHash {
			t.Fatal("re-applying the rotated secret re-salted it")
		}

		// A supplied hash is stored verbatim, and re-applying it changes nothing.
		h := testHasher(t)
		hash, err := h.Hash("hashed-secret-value")
		if err != nil {
			t.Fatal(err)
		}
		spec.Secret, spec.SecretHash = "", hash
		if got := e.apply(t, spec, false, true); got.SecretHash != hash {
			t.Fatalf("SecretHash = %q; want the supplied hash verbatim", got.SecretHash)
		}
		e.apply(t, spec, false, false)

		// Dropping the owner is a change too.
		spec.OwnerID = ""
		if got := e.apply(t, spec, false, true); got.OwnerID != "" {
			t.Fatalf("OwnerID = %q; want none", got.OwnerID)
		}

		// A public client keeps no secret.
		spa := e.apply(t, spaSpec(), true, true)
		if spa.Type != access.Public || spa.SecretHash != "" {
			t.Fatalf("public client stored as %+v", spa)
		}
		e.apply(t, spaSpec(), false, false)
	})
}

func TestClients_ApplyRejectsAndWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		unknownOwner := webSpec()
		unknownOwner.OwnerID = uuid.NewString()
		created, changed, err := e.clients.Apply(ctx, unknownOwner)
		wantField(t, err, "owner")
		if created || changed {
			t.Fatalf("Apply with unknown owner reported created %v, changed %v", created, changed)
		}
		if _, err := e.clients.Client(ctx, unknownOwner.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Client after rejected Apply = %v; want ErrNotFound", err)
		}

		invalid := webSpec()
		invalid.RedirectURIs = []string{"http://app.example.com/cb"}
		_, _, err = e.clients.Apply(ctx, invalid)
		wantField(t, err, "redirect_uris")

		// An existing client is left alone by a rejected update.
		before := e.apply(t, webSpec(), true, true)
		update := webSpec()
		update.Scopes = []string{"openid"}
		update.OwnerID = "no-such-user"
		_, changed, err = e.clients.Apply(ctx, update)
		wantField(t, err, "owner")
		if changed {
			t.Fatal("changed = true on a rejected update")
		}
		after := e.client(t, before.ID)
		if !slices.Equal(after.Scopes, before.Scopes) || after.OwnerID != "" || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("rejected update wrote %+v; was %+v", after, before)
		}

		cs, _, err := e.clients.List(ctx, identity.Page{})
		if err != nil || len(cs) != 1 || cs[0].ID != before.ID {
			t.Fatalf("List = %+v, %v; want only %s", cs, err, before.ID)
		}
	})
}

func TestClients_ClientNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.clients.Client(ctx, "no-such-client"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Client(unknown) = %v; want identity.ErrNotFound", err)
		}
		if _, err := e.store.ClientByID(ctx, "no-such-client"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("ClientByID(unknown) = %v; want identity.ErrNotFound", err)
		}
	})
}

func TestClients_ListPaginatesInIDOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ids := []string{"delta", "alpha", "echo", "charlie", "bravo"}
		for _, id := range ids {
			s := spaSpec()
			s.ID = id
			e.apply(t, s, true, true)
		}

		var (
			got   []string
			pages [][]string
			page  = identity.Page{Limit: 2}
		)
		for range 10 {
			cs, next, err := e.clients.List(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			var pageIDs []string
			for _, c := range cs {
				pageIDs = append(pageIDs, c.ID)
			}
			pages = append(pages, pageIDs)
			got = append(got, pageIDs...)
			if next == "" {
				break
			}
			if next != pageIDs[len(pageIDs)-1] {
				t.Fatalf("cursor %q; want the last id of the page %v", next, pageIDs)
			}
			page.After = next
		}
		want := [][]string{{"alpha", "bravo"}, {"charlie", "delta"}, {"echo"}}
		if !slices.EqualFunc(pages, want, slices.Equal) || !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
			t.Fatalf("pages = %v; want %v", pages, want)
		}

		all, next, err := e.clients.List(ctx, identity.Page{})
		if err != nil || len(all) != len(ids) || next != "" {
			t.Fatalf("List without limit = %d clients, next %q, %v; want all %d and no cursor", len(all), next, err, len(ids))
		}
		exact, next, err := e.clients.List(ctx, identity.Page{Limit: len(ids)})
		if err != nil || len(exact) != len(ids) || next != "" {
			t.Fatalf("List(Limit %d) = %d clients, next %q, %v; want all and no cursor", len(ids), len(exact), next, err)
		}
	})
}
