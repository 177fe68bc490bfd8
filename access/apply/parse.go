// Package apply implements declarative apply: a YAML file (a "fabric") that declares
// users, groups and their members, machine identities, OAuth clients, and applications
// with the gateway routes that lead to them, applied as one transaction. Applying the same file twice changes nothing; any error, reported with
// the file's line, changes nothing at all.
//
// Objects are matched by their natural key (normalised username, group and machine
// name, client id, application id). Objects absent from the file are left alone; a
// declared group's member list and a declared application's route list are
// authoritative.
package apply

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in the file.
type Pos struct{ Line, Col int }

// Problem is one error at a place in the file.
type Problem struct {
	Pos
	Path string // e.g. users[2].email
	Msg  string
}

// Errors is every problem found, in file order. Error() prints one per line as
// file:line:col: path: message, the form editors jump to.
type Errors struct {
	File     string
	Problems []Problem
}

func (e *Errors) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, e.format(p))
	}
	return strings.Join(lines, "\n")
}

func (e *Errors) format(p Problem) string {
	loc := fmt.Sprintf("%s:%d:%d", e.File, p.Line, p.Col)
	if p.Path == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Path + ": " + p.Msg
}

func (e *Errors) add(pos Pos, path, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (e *Errors) errOrNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	sort.SliceStable(e.Problems, func(i, j int) bool {
		a, b := e.Problems[i], e.Problems[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return e
}

// Document is a parsed fabric file.
type Document struct {
	File     string
	Version  int            `yaml:"version"`
	Users    []UserSpec     `yaml:"users"`
	Groups   []GroupSpec    `yaml:"groups"`
	Machines []MachineSpec  `yaml:"machine_identities"`
	Clients  []ClientSpec   `yaml:"clients"`
	Apps     []AppSpec      `yaml:"applications"`
	pos      map[string]Pos // top-level key → position
}

// UserSpec declares a user. Status, when absent, leaves an existing user's status alone
// (new users are active). Password or PasswordHash, when absent, leave the credential alone.
type UserSpec struct {
	Username     string `yaml:"username"`
	Email        string `yaml:"email"`
	DisplayName  string `yaml:"display_name"`
	Status       string `yaml:"status"`
	Password     string `yaml:"password"`
	PasswordHash string `yaml:"password_hash"`
	at           located
}

// GroupSpec declares a group and exactly its members (usernames).
type GroupSpec struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Members     []string `yaml:"members"`
	at          located
	memberPos   []Pos
}

// MachineSpec declares a machine identity owned by a user (username). Status (active
// or disabled), when absent, leaves an existing machine identity's status alone.
type MachineSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Owner       string `yaml:"owner"`
	Status      string `yaml:"status"`
	at          located
}

// ClientSpec declares an OAuth client. Secret is hashed (argon2id) before storage;
// SecretHash takes an argon2id PHC string instead. Owner is a username.
type ClientSpec struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	Type         string   `yaml:"type"`
	Secret       string   `yaml:"secret"`
	SecretHash   string   `yaml:"secret_hash"`
	RedirectURIs []string `yaml:"redirect_uris"`
	GrantTypes   []string `yaml:"grant_types"`
	Scopes       []string `yaml:"scopes"`
	Owner        string   `yaml:"owner"`
	// Introspection lets the client call token introspection (gateways).
	Introspection bool `yaml:"introspection"`
	// FirstParty clients skip the consent page.
	FirstParty             bool     `yaml:"first_party"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// AccessTokenFormat is opaque (default) or jwt (RFC 9068).
	AccessTokenFormat string `yaml:"access_token_format"`
	// TokenEndpointAuthMethod private_key_jwt makes the client authenticate with a JWT
	// signed by one of the public keys in JWKS (a JWK Set written as YAML).
	TokenEndpointAuthMethod string         `yaml:"token_endpoint_auth_method"`
	JWKS                    map[string]any `yaml:"jwks"`
	// IDTokenSignedResponseAlg is ES256 (default) or RS256.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// PKCERequired may be set to false for a confidential client that cannot do PKCE.
	PKCERequired *bool `yaml:"pkce_required"`
	// MachineIdentity names the machine identity this client authenticates (its
	// client_credentials tokens carry that identity as subject).
	MachineIdentity string `yaml:"machine_identity"`
	// BackchannelLogoutURI receives OIDC Back-Channel Logout tokens.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// Status is active or disabled; absent leaves an existing client's status alone.
	// Disabling revokes the client's tokens, as the admin API does.
	Status string `yaml:"status"`
	at     located
}

// AppSpec declares an application and exactly the gateway routes that lead to it
// (forward-auth matches a request's host and path against them). Sensitive, when
// absent, is false: the file states the application as it is.
type AppSpec struct {
	ID          string      `yaml:"id"`
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Sensitive   bool        `yaml:"sensitive"`
	Routes      []RouteSpec `yaml:"routes"`
	at          located
}

// RouteSpec declares one route: a host (no port: ports are ignored) and a path prefix
// of whole segments.
type RouteSpec struct {
	Host       string `yaml:"host"`
	PathPrefix string `yaml:"path_prefix"`
	at         located
}

// located remembers where an item and each of its keys are.
type located struct {
	path string
	item Pos
	keys map[string]Pos
}

// at returns the position of key, or of the item when the key is absent.
func (l located) at(key string) Pos {
	if p, ok := l.keys[key]; ok {
		return p
	}
	return l.item
}

// maxFileSize bounds what apply reads; a fabric is configuration, not a bulk import.
const maxFileSize = 16 << 20

// Parse reads a fabric document. Structural problems (not YAML, unknown keys, wrong
// types) come back as *Errors with positions; content rules are checked by Check.
func Parse(r io.Reader, file string) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", file, maxFileSize>>20)
	}
	errs := &Errors{File: file}
	doc := &Document{File: file, pos: map[string]Pos{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return doc, nil // an empty file declares nothing
		}
		errs.add(yamlErrPos(err), "", "not valid YAML: %s", yamlErrMsg(err))
		return nil, errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		errs.add(Pos{extra.Line, extra.Column}, "", "a fabric file holds one YAML document; found another")
		return nil, errs
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return doc, nil
	}
	if top.Kind != yaml.MappingNode {
		errs.add(Pos{top.Line, top.Column}, "", "the document must be a mapping with keys version, users, groups, machine_identities, clients, applications")
		return nil, errs
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		doc.pos[k.Value] = Pos{k.Line, k.Column}
		switch k.Value {
		case "version":
			if err := v.Decode(&doc.Version); err != nil || doc.Version != 1 {
				errs.add(Pos{v.Line, v.Column}, "version", "must be 1")
			}
		case "users":
			doc.Users = decodeList[UserSpec](v, "users", errs, func(s *UserSpec, l located) { s.at = l })
		case "groups":
			doc.Groups = decodeList[GroupSpec](v, "groups", errs, func(s *GroupSpec, l located) { s.at = l })
			for gi, item := range mappingItems(v) {
				if gi < len(doc.Groups) {
					doc.Groups[gi].memberPos = memberPositions(item)
				}
			}
		case "machine_identities":
			doc.Machines = decodeList[MachineSpec](v, "machine_identities", errs, func(s *MachineSpec, l located) { s.at = l })
		case "clients":
			doc.Clients = decodeList[ClientSpec](v, "clients", errs, func(s *ClientSpec, l located) { s.at = l })
		case "applications":
			doc.Apps = decodeList[AppSpec](v, "applications", errs, func(s *AppSpec, l located) { s.at = l })
			for ai, item := range mappingItems(v) {
				if ai >= len(doc.Apps) {
					break
				}
				if routes := valueOf(item, "routes"); routes != nil {
					path := fmt.Sprintf("applications[%d].routes", ai)
					doc.Apps[ai].Routes = decodeList[RouteSpec](routes, path, errs, func(s *RouteSpec, l located) { s.at = l })
				}
			}
		default:
			errs.add(Pos{k.Line, k.Column}, "", "unknown key %q (allowed: version, users, groups, machine_identities, clients, applications)", k.Value)
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return doc, nil
}

func mappingItems(seq *yaml.Node) []*yaml.Node {
	if seq.Kind != yaml.SequenceNode {
		return nil
	}
	return seq.Content
}

// valueOf returns the value of key in a mapping node, or nil.
func valueOf(item *yaml.Node, key string) *yaml.Node {
	if item.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == key {
			return item.Content[i+1]
		}
	}
	return nil
}

func memberPositions(item *yaml.Node) []Pos {
	if item.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "members" && item.Content[i+1].Kind == yaml.SequenceNode {
			out := make([]Pos, 0, len(item.Content[i+1].Content))
			for _, m := range item.Content[i+1].Content {
				out = append(out, Pos{m.Line, m.Column})
			}
			return out
		}
	}
	return nil
}

// decodeList decodes a sequence of mappings into T, rejecting unknown keys and wrong
// types with their positions. set records where each item and key sit.
func decodeList[T any](seq *yaml.Node, name string, errs *Errors, set func(*T, located)) []T {
	if seq.Kind == yaml.ScalarNode && seq.Tag == "!!null" {
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		errs.add(Pos{seq.Line, seq.Column}, name, "must be a list")
		return nil
	}
	fields := yamlFields(reflect.TypeFor[T]())
	out := make([]T, 0, len(seq.Content))
	for i, item := range seq.Content {
		path := fmt.Sprintf("%s[%d]", name, i)
		var v T
		l := located{path: path, item: Pos{item.Line, item.Column}, keys: map[string]Pos{}}
		if item.Kind != yaml.MappingNode {
			errs.add(l.item, path, "must be a mapping")
			continue
		}
		rv := reflect.ValueOf(&v).Elem()
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, val := item.Content[j], item.Content[j+1]
			idx, ok := fields[k.Value]
			if !ok {
				errs.add(Pos{k.Line, k.Column}, path, "unknown key %q (allowed: %s)", k.Value, allowedKeys(fields))
				continue
			}
			if _, dup := l.keys[k.Value]; dup {
				errs.add(Pos{k.Line, k.Column}, path, "key %q appears twice", k.Value)
				continue
			}
			l.keys[k.Value] = Pos{k.Line, k.Column}
			if nestedList(rv.Field(idx).Type()) {
				continue // a list of mappings: the caller decodes it with its own positions
			}
			if err := val.Decode(rv.Field(idx).Addr().Interface()); err != nil {
				errs.add(Pos{val.Line, val.Column}, path+"."+k.Value, "must be %s", kindName(rv.Field(idx).Type()))
			}
		}
		set(&v, l)
		out = append(out, v)
	}
	return out
}

// nestedList reports whether t is a list of mappings (an application's routes), which
// decodeList leaves to its caller so that its items get positions and key checks too.
func nestedList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func allowedKeys(fields map[string]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fields[keys[i]] < fields[keys[j]] })
	return strings.Join(keys, ", ")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list of strings"
	case reflect.Bool:
		return "true or false"
	case reflect.Map:
		return "a mapping"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "a string"
}

// yamlErrPos digs the line out of yaml.v3's "yaml: line N: ..." messages.
func yamlErrPos(err error) Pos {
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
		return Pos{line, 1}
	}
	return Pos{1, 1}
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
		msg = msg[i+2:]
	}
	return msg
}
