package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/outbound"
	"github.com/weft-fabric/weft/identity/password"
)

// Config is the whole configuration of the weft binary. main maps it onto the
// per-package configurations; no package below cmd sees it. Each field is one row of
// settings, which gives its key, variable, flag, default and meaning.
type Config struct {
	Listen                 string
	MetricsListen          string // empty: /metrics on Listen
	TrustedProxies         string // comma-separated IPs and CIDR prefixes; see trustedProxies
	Issuer                 string
	DataDir                string
	DatabaseURL            string // empty: embedded SQLite file weft.db in DataDir
	RedisURL               string // empty: no Redis, in-process caches
	LogLevel               string
	LogFormat              string
	MigrateOnStart         bool
	ShutdownTimeout        time.Duration
	DBMaxOpenConns         int
	DBMaxIdleConns         int
	DBConnMaxLifetime      time.Duration
	BootstrapAdmin         string
	BootstrapAdminPassword string // empty: generated and logged once
	Argon2MemoryKiB        uint32
	Argon2Time             uint32
	Argon2Threads          uint8
	KeyEncryptionKey       string // base64 of 32 bytes; empty: generated file in DataDir (SQLite only)
	AccessTokenTTL         time.Duration
	RefreshTokenTTL        time.Duration
	IDTokenTTL             time.Duration
	LoginSessionTTL        time.Duration
	SigningKeysRefresh     time.Duration
	RedisPrefix            string
	NodeName               string // empty: hostname-pid-random
	OutboundAllow          string // comma-separated IPs, CIDR prefixes, host names; see outboundPolicy
	OutboundAllowLoopback  bool
	SSFReasonReceivers     string // comma-separated client ids
	// Throttling of failures (issue 9 H2, M4, L3): see access/throttle.
	ClientAuthFailuresPerIP     int
	ClientAuthFailuresPerClient int
	ClientAuthRefusalHold       time.Duration
	LoginFailuresPerIP          int
	LoginFailuresPerAccountIP   int
	LoginFailuresPerAccount     int
	LoginMaxDelay               time.Duration
	LoginMaxInFlightPerIP       int
	OutboxConcurrency           int
	OutboxPerTarget             int
	OutboxTimeout               time.Duration
	OutboxPollInterval          time.Duration
	OutboxMaxAttempts           int
	OutboxGiveUpAfter           time.Duration
}

// setting describes one configuration value. The table below is the single source of
// the defaults, the flags and their help, and the README reference, so they cannot drift.
type setting struct {
	Key     string // YAML key, snake_case
	Env     string // "WEFT_" + upper(Key)
	Flag    string // kebab-case of Key, without "--"
	Default string // in the syntax the environment variable takes
	Doc     string // one line, no "|" or backquotes (it lands in a Markdown table and in pflag usage)
}

var settings = []setting{
	{"listen", "WEFT_LISTEN", "listen", "127.0.0.1:8080",
		"TCP address to serve HTTP on, host:port; an empty host listens on all interfaces"},
	{"metrics_listen", "WEFT_METRICS_LISTEN", "metrics-listen", "",
		"Separate host:port that serves /metrics (Prometheus) instead of the public listener, e.g. an address only the monitoring network reaches; empty serves /metrics on listen"},
	{"trusted_proxies", "WEFT_TRUSTED_PROXIES", "trusted-proxies", "",
		"Reverse proxies whose Forwarded and X-Forwarded-For headers name the client, and the only peers forward-auth (/gateway/authz) answers: comma-separated IPs or CIDR prefixes (IPv4 or IPv6); empty trusts none and the client is the TCP peer"},
	{"issuer", "WEFT_ISSUER", "issuer", "http://localhost:8080",
		"Public base URL, the OpenID Connect issuer: https (http only on loopback), no query, no trailing slash"},
	{"data_dir", "WEFT_DATA_DIR", "data-dir", "./weft-data",
		"Directory for local state, such as the embedded SQLite database weft.db"},
	{"database_url", "WEFT_DATABASE_URL", "database-url", "",
		"PostgreSQL URL (postgres://user:password@host:5432/db); empty uses the embedded SQLite database in data_dir"},
	{"redis_url", "WEFT_REDIS_URL", "redis-url", "",
		"Redis URL (redis:// or rediss://) for shared caches and revocation fan-out; empty keeps them in process (single node)"},
	{"log_level", "WEFT_LOG_LEVEL", "log-level", "info",
		"Minimum log level: debug, info, warn or error"},
	{"log_format", "WEFT_LOG_FORMAT", "log-format", "json",
		"Log format: json or text"},
	{"migrate_on_start", "WEFT_MIGRATE_ON_START", "migrate-on-start", "true",
		"Apply pending database migrations at start; when false, an outdated schema stops the server"},
	{"shutdown_timeout", "WEFT_SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s",
		"How long a graceful shutdown waits for requests in flight; more than 0, at most 10m"},
	{"db_max_open_conns", "WEFT_DB_MAX_OPEN_CONNS", "db-max-open-conns", "20",
		"Maximum open database connections per node, 1 to 1000"},
	{"db_max_idle_conns", "WEFT_DB_MAX_IDLE_CONNS", "db-max-idle-conns", "20",
		"Maximum idle database connections kept open, 0 to 1000, at most db_max_open_conns take effect; below db_max_open_conns a busy pool closes and reopens connections, which lengthens tail latency"},
	{"db_conn_max_lifetime", "WEFT_DB_CONN_MAX_LIFETIME", "db-conn-max-lifetime", "30m",
		"Age after which a database connection is replaced; 0 keeps connections forever"},
	{"bootstrap_admin", "WEFT_BOOTSTRAP_ADMIN", "bootstrap-admin", "admin",
		"Username of the administrator created at first start on an empty directory"},
	{"bootstrap_admin_password", "WEFT_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-admin-password", "",
		"Password of that first administrator; empty generates one and logs it once (prefer the environment to the flag, which ps shows)"},
	{"argon2_memory_kib", "WEFT_ARGON2_MEMORY_KIB", "argon2-memory-kib", "65536",
		"argon2id memory per password hash in KiB, 8192 (8 MiB) to 1048576 (1 GiB)"},
	{"argon2_time", "WEFT_ARGON2_TIME", "argon2-time", "1",
		"argon2id passes over memory per password hash, 1 to 64"},
	{"argon2_threads", "WEFT_ARGON2_THREADS", "argon2-threads", "2",
		"argon2id parallelism (lanes) per password hash, 1 to 64"},
	{"key_encryption_key", "WEFT_KEY_ENCRYPTION_KEY", "key-encryption-key", "",
		"Base64 of 32 random bytes (openssl rand -base64 32) that encrypts signing keys at rest and derives the token HMAC secret and the audit chain keys; every node and admin command must share it; required with PostgreSQL; empty on SQLite generates data_dir/kek"},
	{"access_token_ttl", "WEFT_ACCESS_TOKEN_TTL", "access-token-ttl", "10m",
		"Lifetime of access tokens, 1m to 24h"},
	{"refresh_token_ttl", "WEFT_REFRESH_TOKEN_TTL", "refresh-token-ttl", "720h",
		"Lifetime of refresh tokens (each use rotates them), 1h to 8760h"},
	{"id_token_ttl", "WEFT_ID_TOKEN_TTL", "id-token-ttl", "1h",
		"Lifetime of ID tokens, 1m to 24h; retired signing keys stay published at least this long"},
	{"login_session_ttl", "WEFT_LOGIN_SESSION_TTL", "login-session-ttl", "12h",
		"How long a browser login session lasts before the user must log in again, 5m to 720h"},
	{"signing_keys_refresh", "WEFT_SIGNING_KEYS_REFRESH", "signing-keys-refresh", "30s",
		"How often a server reloads signing keys from the database, so a rotation by weft keys rotate reaches it; 1s to 10m"},
	{"redis_prefix", "WEFT_REDIS_PREFIX", "redis-prefix", "weft:",
		"Prefix of every Redis key Weft writes, so several deployments can share one Redis"},
	{"node_name", "WEFT_NODE_NAME", "node-name", "",
		"This node's name in revocation receipts and among the live nodes on Redis, unique per running node; empty uses hostname-pid-random"},
	{"outbound_allow", "WEFT_OUTBOUND_ALLOW", "outbound-allow", "",
		"Internal destinations that SSF push endpoints and back-channel logout URIs may still use: comma-separated IPs, CIDR prefixes and host names; empty allows none (private, link-local, metadata and similar addresses are refused)"},
	{"outbound_allow_loopback", "WEFT_OUTBOUND_ALLOW_LOOPBACK", "outbound-allow-loopback", "false",
		"Let SSF push endpoints and back-channel logout URIs use loopback addresses (and http to them) although the issuer is not on loopback; with an issuer on loopback they always may"},
	{"ssf_reason_receivers", "WEFT_SSF_REASON_RECEIVERS", "ssf-reason-receivers", "",
		"SSF receivers (comma-separated client ids) trusted with the free-text reasons of changes (CAEP reason_admin, such as a SOAR's incident note); every other receiver gets events without them"},
	{"client_auth_failures_per_ip", "WEFT_CLIENT_AUTH_FAILURES_PER_IP", "client-auth-failures-per-ip", "20",
		"Failed client authentications (wrong secret, unknown client id) allowed per minute, and at once, from one address (IPv6: one /64) for all clients; past it the token, introspection and revocation endpoints answer 429 with Retry-After without hashing; counted on Redis across nodes when configured; 1 to 100000"},
	{"client_auth_failures_per_client", "WEFT_CLIENT_AUTH_FAILURES_PER_CLIENT", "client-auth-failures-per-client", "60",
		"Failed client authentications allowed per minute, and at once, for one client id from all addresses; a caller whose correct secret is cached, or that authenticated from its address before, is not held back by others' failures; 1 to 100000"},
	{"client_auth_refusal_hold", "WEFT_CLIENT_AUTH_REFUSAL_HOLD", "client-auth-refusal-hold", "1s",
		"How long a throttled client authentication waits before its 429 is sent (at most its Retry-After), so a flood that retries at once is slowed instead of answered as fast as it asks; at most 1024 wait at once; 0s to 10s"},
	{"login_failures_per_ip", "WEFT_LOGIN_FAILURES_PER_IP", "login-failures-per-ip", "20",
		"Failed logins allowed per minute, and at once, from one address (IPv6: one /64) for all accounts; past it the login page answers 429; 1 to 100000"},
	{"login_failures_per_account_ip", "WEFT_LOGIN_FAILURES_PER_ACCOUNT_IP", "login-failures-per-account-ip", "5",
		"Failed logins allowed per minute, and at once, for one account (its normalised username) from one address; past it 429; 1 to 100000"},
	{"login_failures_per_account", "WEFT_LOGIN_FAILURES_PER_ACCOUNT", "login-failures-per-account", "10",
		"Failed logins per minute, and at once, for one account from all addresses before each further attempt is delayed (doubling from 100ms up to login_max_delay), never refused, so nobody can lock an account out; a browser that signed in to the account before is not delayed; 1 to 100000"},
	{"login_max_delay", "WEFT_LOGIN_MAX_DELAY", "login-max-delay", "5s",
		"Longest delay before a password is checked for an account under attack; 0 to 30s"},
	{"login_max_in_flight_per_ip", "WEFT_LOGIN_MAX_IN_FLIGHT_PER_IP", "login-max-in-flight-per-ip", "4",
		"Logins one address may have in progress at once on a node; more answer 429 at once; 1 to 1000"},
	{"outbox_concurrency", "WEFT_OUTBOX_CONCURRENCY", "outbox-concurrency", "16",
		"Back-channel logout tokens and pushed security events a node sends at once, 1 to 1000"},
	{"outbox_per_target", "WEFT_OUTBOX_PER_TARGET", "outbox-per-target", "2",
		"Of those, how many may go to one receiver (a relying party or an SSF receiver) at once, so one that hangs holds up only itself; 1 to outbox_concurrency"},
	{"outbox_timeout", "WEFT_OUTBOX_TIMEOUT", "outbox-timeout", "5s",
		"How long one delivery attempt may take before it counts as failed, 100ms to 1m"},
	{"outbox_poll_interval", "WEFT_OUTBOX_POLL_INTERVAL", "outbox-poll-interval", "30s",
		"How often a node looks for due deliveries without being woken (it is woken when a delivery is queued or a revocation arrives), 1s to 1h"},
	{"outbox_max_attempts", "WEFT_OUTBOX_MAX_ATTEMPTS", "outbox-max-attempts", "100",
		"Failed attempts after which a delivery is given up (and an SSF stream disabled with the reason), 1 to 100000"},
	{"outbox_give_up_after", "WEFT_OUTBOX_GIVE_UP_AFTER", "outbox-give-up-after", "24h",
		"Age after which a delivery still failing is given up (and an SSF stream disabled with the reason), 1m to 720h"},
}

// ref returns a pointer to the field that holds key, so that parsing, printing and
// flag typing are written once per Go type instead of once per setting.
func (c *Config) ref(key string) any {
	switch key {
	case "listen":
		return &c.Listen
	case "metrics_listen":
		return &c.MetricsListen
	case "trusted_proxies":
		return &c.TrustedProxies
	case "issuer":
		return &c.Issuer
	case "data_dir":
		return &c.DataDir
	case "database_url":
		return &c.DatabaseURL
	case "redis_url":
		return &c.RedisURL
	case "log_level":
		return &c.LogLevel
	case "log_format":
		return &c.LogFormat
	case "migrate_on_start":
		return &c.MigrateOnStart
	case "shutdown_timeout":
		return &c.ShutdownTimeout
	case "db_max_open_conns":
		return &c.DBMaxOpenConns
	case "db_max_idle_conns":
		return &c.DBMaxIdleConns
	case "db_conn_max_lifetime":
		return &c.DBConnMaxLifetime
	case "bootstrap_admin":
		return &c.BootstrapAdmin
	case "bootstrap_admin_password":
		return &c.BootstrapAdminPassword
	case "argon2_memory_kib":
		return &c.Argon2MemoryKiB
	case "argon2_time":
		return &c.Argon2Time
	case "key_encryption_key":
		return &c.KeyEncryptionKey
	case "access_token_ttl":
		return &c.AccessTokenTTL
	case "refresh_token_ttl":
		return &c.RefreshTokenTTL
	case "id_token_ttl":
		return &c.IDTokenTTL
	case "login_session_ttl":
		return &c.LoginSessionTTL
	case "signing_keys_refresh":
		return &c.SigningKeysRefresh
	case "redis_prefix":
		return &c.RedisPrefix
	case "node_name":
		return &c.NodeName
	case "argon2_threads":
		return &c.Argon2Threads
	case "outbound_allow":
		return &c.OutboundAllow
	case "outbound_allow_loopback":
		return &c.OutboundAllowLoopback
	case "ssf_reason_receivers":
		return &c.SSFReasonReceivers
	case "client_auth_failures_per_ip":
		return &c.ClientAuthFailuresPerIP
	case "client_auth_failures_per_client":
		return &c.ClientAuthFailuresPerClient
	case "client_auth_refusal_hold":
		return &c.ClientAuthRefusalHold
	case "login_failures_per_ip":
		return &c.LoginFailuresPerIP
	case "login_failures_per_account_ip":
		return &c.LoginFailuresPerAccountIP
	case "login_failures_per_account":
		return &c.LoginFailuresPerAccount
	case "login_max_delay":
		return &c.LoginMaxDelay
	case "login_max_in_flight_per_ip":
		return &c.LoginMaxInFlightPerIP
	case "outbox_concurrency":
		return &c.OutboxConcurrency
	case "outbox_per_target":
		return &c.OutboxPerTarget
	case "outbox_timeout":
		return &c.OutboxTimeout
	case "outbox_poll_interval":
		return &c.OutboxPollInterval
	case "outbox_max_attempts":
		return &c.OutboxMaxAttempts
	case "outbox_give_up_after":
		return &c.OutboxGiveUpAfter
	}
	panic("config: no field for setting " + strconv.Quote(key)) // TestSettings_Table keeps this unreachable
}

// defaultConfig returns the built-in defaults, parsed from the settings table.
func defaultConfig() Config {
	var c Config
	for _, s := range settings {
		if problem := parseValue(c.ref(s.Key), s.Default); problem != "" {
			panic(fmt.Sprintf("config: default of %s: %s", s.Key, problem)) // a bug in the table
		}
	}
	return c
}

// loadConfig merges, in rising precedence: defaults < YAML file at path (if path != "")
// < WEFT_* variables in environ < flags explicitly set on fs (fs may be nil). Then it
// validates. environ is a parameter, not os.Environ(), so tests never touch the process.
// Every problem found is reported, joined, so an operator fixes them in one round.
func loadConfig(path string, environ []string, fs *pflag.FlagSet) (Config, error) {
	k := koanf.New(".")
	defaults := make(map[string]any, len(settings))
	for _, s := range settings {
		defaults[s.Key] = s.Default
	}
	if err := k.Load(confmap.Provider(defaults, ""), nil); err != nil {
		return Config{}, fmt.Errorf("config defaults: %w", err)
	}

	if path != "" {
		// The file goes into its own instance first so that its keys can be checked:
		// a misspelt key silently keeping a default is how insecure setups happen.
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		var unknown []error
		for _, key := range fk.Keys() {
			if _, ok := lookupSetting(func(s setting) bool { return s.Key == key }); !ok {
				unknown = append(unknown, fmt.Errorf("config file %s: unknown setting %q%s", path, key, suggest(key)))
			}
		}
		if err := errors.Join(unknown...); err != nil {
			return Config{}, err
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	// Unknown WEFT_* variables are ignored: tests and tools share the prefix
	// (WEFT_TEST_POSTGRES_URL, ...). A later entry wins, as with os/exec.
	env := make(map[string]any)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if s, ok := lookupSetting(func(s setting) bool { return s.Env == name }); ok {
			env[s.Key] = val // set but empty counts: WEFT_DATABASE_URL= forces SQLite
		}
	}
	if err := k.Load(confmap.Provider(env, ""), nil); err != nil {
		return Config{}, fmt.Errorf("config environment: %w", err)
	}

	if fs != nil {
		// Passing k makes posflag skip unchanged flags, whose keys all exist already as
		// defaults: a flag's default must never override the file or the environment.
		p := posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
			s, ok := lookupSetting(func(s setting) bool { return s.Flag == f.Name })
			if !ok {
				return "", nil // --config, --output and other non-settings
			}
			return s.Key, f.Value.String()
		})
		if err := k.Load(p, nil); err != nil {
			return Config{}, fmt.Errorf("config flags: %w", err)
		}
	}

	// Convert by hand rather than with koanf's Unmarshal: its mapstructure errors do not
	// say which environment variable to fix.
	var c Config
	var errs []error
	for _, s := range settings {
		raw, problem := scalarText(k.Get(s.Key))
		if problem == "" {
			problem = parseValue(c.ref(s.Key), raw)
		}
		if problem != "" {
			errs = append(errs, invalid(s, raw, problem))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// lookupSetting finds the setting matching pred.
func lookupSetting(pred func(setting) bool) (setting, bool) {
	for _, s := range settings {
		if pred(s) {
			return s, true
		}
	}
	return setting{}, false
}

// scalarText turns a YAML scalar (string, int, float, bool, null) into the text an
// environment variable would carry, so file values go through the same parser.
func scalarText(v any) (string, string) {
	switch v := v.(type) {
	case nil:
		return "", ""
	case string:
		return v, ""
	case []any, map[string]any:
		return fmt.Sprint(v), "must be a single value"
	case time.Time: // an unquoted YAML date
		return v.Format(time.RFC3339), "must be quoted"
	}
	return fmt.Sprint(v), ""
}

// parseValue stores raw into the field dst points to and returns the problem, if any,
// in words that complete "invalid WEFT_X (x) "raw": ...".
func parseValue(dst any, raw string) string {
	t := strings.TrimSpace(raw)
	switch p := dst.(type) {
	case *string:
		*p = raw
	case *bool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return "must be true or false"
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(t)
		if err != nil {
			return "must be an integer"
		}
		*p = n
	case *uint32:
		n, err := parseUint(t, 32)
		if err != "" {
			return err
		}
		*p = uint32(n)
	case *uint8:
		n, err := parseUint(t, 8)
		if err != "" {
			return err
		}
		*p = uint8(n)
	case *time.Duration:
		d, err := time.ParseDuration(t)
		if err != nil {
			return "must be a duration such as 15s, 2m or 1h30m"
		}
		*p = d
	default:
		panic(fmt.Sprintf("config: no parser for %T", dst))
	}
	return ""
}

// parseUint tells a number out of the type's range ("256" for a uint8, "-1") from text
// that is no number at all, because the fixes differ.
func parseUint(t string, bits int) (uint64, string) {
	n, err := strconv.ParseUint(t, 10, bits)
	if err == nil {
		return n, ""
	}
	if _, ierr := strconv.ParseInt(t, 10, 64); ierr == nil || errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Sprintf("must be an integer from 0 to %d", uint64(1)<<bits-1)
	}
	return 0, "must be an integer"
}

// formatValue is the inverse of parseValue.
func formatValue(src any) string {
	switch p := src.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *uint32:
		return strconv.FormatUint(uint64(*p), 10)
	case *uint8:
		return strconv.FormatUint(uint64(*p), 10)
	case *time.Duration:
		return p.String()
	}
	panic(fmt.Sprintf("config: no formatter for %T", src))
}

// flagType is the type name pflag shows in help; "bool" also makes it omit the name.
func flagType(src any) string {
	switch src.(type) {
	case *bool:
		return "bool"
	case *int:
		return "int"
	case *uint32:
		return "uint32"
	case *uint8:
		return "uint8"
	case *time.Duration:
		return "duration"
	}
	return "string"
}

// invalid builds the one error shape for a bad value. It names the variable and the key
// because operators set either, and it never shows a secret.
func invalid(s setting, raw, problem string) error {
	if shown, ok := displayValue(s.Key, raw); ok {
		return fmt.Errorf("invalid %s (%s) %q: %s", s.Env, s.Key, shown, problem)
	}
	return fmt.Errorf("invalid %s (%s): %s", s.Env, s.Key, problem)
}

// displayValue returns raw as it may appear in errors and logs, or false when nothing
// of it may: URLs lose their password, the bootstrap password is never shown.
func displayValue(key, raw string) (string, bool) {
	switch key {
	case "bootstrap_admin_password", "key_encryption_key":
		return "", false
	case "database_url", "redis_url":
		r := redactURL(raw)
		return r, r != redacted
	}
	return raw, true
}

const redacted = "xxxxx"

// redactURL replaces the password in a URL's user information and in query parameters
// such as ?password= (which pgx accepts) with "xxxxx". Text that does not parse as a URL
// with a scheme cannot be redacted reliably (a key=value DSN, say), so it is hidden whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redacted
		}
		changed := false
		for name := range q {
			if n := strings.ToLower(name); strings.Contains(n, "pass") || strings.Contains(n, "secret") {
				q[name] = []string{redacted}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// Redacted returns a copy safe to log or print: URL passwords become "xxxxx" and a set
// bootstrap password becomes "(set)".
func (c Config) Redacted() Config {
	c.DatabaseURL = redactURL(c.DatabaseURL)
	c.RedisURL = redactURL(c.RedisURL)
	if c.BootstrapAdminPassword != "" {
		c.BootstrapAdminPassword = "(set)"
	}
	if c.KeyEncryptionKey != "" {
		c.KeyEncryptionKey = "(set)"
	}
	return c
}

// String prints the redacted configuration as key=value pairs, so that %v and %+v of
// a Config are safe wherever they end up.
func (c Config) String() string {
	r := c.Redacted()
	var b strings.Builder
	for _, s := range settings {
		if r.unsetSecret(s) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		v := formatValue(r.ref(s.Key))
		if v == "" || strings.ContainsAny(v, " \t\n\"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(s.Key + "=" + v)
	}
	return b.String()
}

// unsetSecret reports an empty bootstrap password, which String and LogValue leave out:
// there is nothing to say, and log scanners looking for "password" stay quiet on an
// ordinary start.
func (c Config) unsetSecret(s setting) bool {
	return s.Key == "bootstrap_admin_password" && c.BootstrapAdminPassword == "" ||
		s.Key == "key_encryption_key" && c.KeyEncryptionKey == ""
}

// GoString keeps %#v from bypassing String and printing secrets.
func (c Config) GoString() string { return "Config{" + c.String() + "}" }

// LogValue makes slog print the redacted settings under their keys, whichever handler
// is used and even when a caller forgets Redacted.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		if r.unsetSecret(s) {
			continue
		}
		switch p := r.ref(s.Key).(type) {
		case *bool:
			attrs = append(attrs, slog.Bool(s.Key, *p))
		case *int:
			attrs = append(attrs, slog.Int(s.Key, *p))
		case *uint32:
			attrs = append(attrs, slog.Uint64(s.Key, uint64(*p)))
		case *uint8:
			attrs = append(attrs, slog.Uint64(s.Key, uint64(*p)))
		default: // strings, and durations as "15s" rather than nanoseconds
			attrs = append(attrs, slog.String(s.Key, formatValue(p)))
		}
	}
	return slog.GroupValue(attrs...)
}

// Validate checks every setting and returns all problems joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, problem string) {
		s, _ := lookupSetting(func(s setting) bool { return s.Key == key })
		errs = append(errs, invalid(s, formatValue(c.ref(key)), problem))
	}

	if p := checkListen(c.Listen); p != "" {
		bad("listen", p)
	}
	if c.MetricsListen != "" {
		if p := checkListen(c.MetricsListen); p != "" {
			bad("metrics_listen", p)
		} else if c.MetricsListen == c.Listen {
			bad("metrics_listen", "must differ from listen")
		}
	}
	if _, p := parseTrustedProxies(c.TrustedProxies); p != "" {
		bad("trusted_proxies", p)
	}
	if p := checkIssuer(c.Issuer); p != "" {
		bad("issuer", p)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	if p := checkDatabaseURL(c.DatabaseURL); p != "" {
		bad("database_url", p)
	}
	if p := checkRedisURL(c.RedisURL); p != "" {
		bad("redis_url", p)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("log_format", "must be json or text")
	}
	// A shutdown longer than a few minutes outlives any orchestrator's grace period.
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		bad("shutdown_timeout", "must be more than 0 and at most 10m")
	}
	if c.DBMaxOpenConns < 1 || c.DBMaxOpenConns > 1000 {
		bad("db_max_open_conns", "must be from 1 to 1000")
	}
	// More idle than open is allowed and means all of them (database/sql caps it), so
	// that lowering db_max_open_conns alone is never a configuration error.
	if c.DBMaxIdleConns < 0 || c.DBMaxIdleConns > 1000 {
		bad("db_max_idle_conns", "must be from 0 to 1000")
	}
	if c.DBConnMaxLifetime < 0 {
		bad("db_conn_max_lifetime", "must not be negative (0 means no limit)")
	}
	if c.BootstrapAdmin == "" {
		bad("bootstrap_admin", "must not be empty")
	} else if strings.IndexFunc(c.BootstrapAdmin, unicode.IsSpace) >= 0 {
		bad("bootstrap_admin", "must not contain whitespace")
	}
	// The argon2 bounds are the password package's, so that configuration and hashes
	// supplied in fabric files are held to the same limits.
	if c.Argon2MemoryKiB < password.MinMemoryKiB || c.Argon2MemoryKiB > password.MaxMemoryKiB {
		bad("argon2_memory_kib", fmt.Sprintf("must be from %d (8 MiB) to %d (1 GiB)", password.MinMemoryKiB, password.MaxMemoryKiB))
	}
	if c.Argon2Time < 1 || c.Argon2Time > password.MaxTime {
		bad("argon2_time", fmt.Sprintf("must be from 1 to %d", password.MaxTime))
	}
	if c.Argon2Threads < 1 || c.Argon2Threads > maxArgon2Threads {
		bad("argon2_threads", fmt.Sprintf("must be from 1 to %d", maxArgon2Threads))
	} else if c.Argon2MemoryKiB < 8*uint32(c.Argon2Threads) {
		// RFC 9106 requires 8 KiB per lane; the ranges above already imply it, but the
		// rule belongs to argon2, not to today's ranges.
		bad("argon2_memory_kib", fmt.Sprintf("must be at least 8 KiB per argon2_threads (%d)", 8*uint32(c.Argon2Threads)))
	}
	if c.RedisPrefix == "" || len(c.RedisPrefix) > 64 || strings.ContainsAny(c.RedisPrefix, " \t\r\n") {
		bad("redis_prefix", "must be 1 to 64 characters without whitespace")
	}
	if len(c.NodeName) > 128 || strings.IndexFunc(c.NodeName, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		bad("node_name", "must be at most 128 printable characters without whitespace")
	}
	if _, p := c.parseOutboundAllow(); p != "" {
		bad("outbound_allow", p)
	}
	if c.OutboxConcurrency < 1 || c.OutboxConcurrency > 1000 {
		bad("outbox_concurrency", "must be from 1 to 1000")
	}
	if c.OutboxPerTarget < 1 || c.OutboxPerTarget > max(c.OutboxConcurrency, 1) {
		bad("outbox_per_target", "must be from 1 to outbox_concurrency")
	}
	if c.OutboxMaxAttempts < 1 || c.OutboxMaxAttempts > 100000 {
		bad("outbox_max_attempts", "must be from 1 to 100000")
	}
	if c.KeyEncryptionKey != "" {
		if _, err := keys.ParseKEK(c.KeyEncryptionKey); err != nil {
			bad("key_encryption_key", "must be base64 of exactly 32 bytes (openssl rand -base64 32)")
		}
	}
	for _, n := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"client_auth_failures_per_ip", c.ClientAuthFailuresPerIP, 1, 100000},
		{"client_auth_failures_per_client", c.ClientAuthFailuresPerClient, 1, 100000},
		{"login_failures_per_ip", c.LoginFailuresPerIP, 1, 100000},
		{"login_failures_per_account_ip", c.LoginFailuresPerAccountIP, 1, 100000},
		{"login_failures_per_account", c.LoginFailuresPerAccount, 1, 100000},
		{"login_max_in_flight_per_ip", c.LoginMaxInFlightPerIP, 1, 1000},
	} {
		if n.v < n.min || n.v > n.max {
			bad(n.key, fmt.Sprintf("must be from %d to %d", n.min, n.max))
		}
	}
	if c.ClientAuthRefusalHold < 0 || c.ClientAuthRefusalHold > 10*time.Second {
		bad("client_auth_refusal_hold", "must be from 0s to 10s")
	}
	// Past half a minute a delayed login nears the server's write timeout.
	if c.LoginMaxDelay < 0 || c.LoginMaxDelay > 30*time.Second {
		bad("login_max_delay", "must be from 0s to 30s")
	}
	for _, d := range []struct {
		key      string
		v        time.Duration
		min, max time.Duration
	}{
		{"access_token_ttl", c.AccessTokenTTL, time.Minute, 24 * time.Hour},
		{"refresh_token_ttl", c.RefreshTokenTTL, time.Hour, 8760 * time.Hour},
		{"id_token_ttl", c.IDTokenTTL, time.Minute, 24 * time.Hour},
		{"login_session_ttl", c.LoginSessionTTL, 5 * time.Minute, 720 * time.Hour},
		{"signing_keys_refresh", c.SigningKeysRefresh, time.Second, 10 * time.Minute},
		{"outbox_timeout", c.OutboxTimeout, 100 * time.Millisecond, time.Minute},
		{"outbox_poll_interval", c.OutboxPollInterval, time.Second, time.Hour},
		{"outbox_give_up_after", c.OutboxGiveUpAfter, time.Minute, 720 * time.Hour},
	} {
		if d.v < d.min || d.v > d.max {
			bad(d.key, fmt.Sprintf("must be from %s to %s", d.min, d.max))
		}
	}
	return errors.Join(errs...)
}

// maxArgon2Threads: more lanes than cores buys nothing, and 64 is beyond any node we run on.
const maxArgon2Threads = 64

func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be host:port"
	}
	// ParseUint takes digits only, so service names ("http") and signs are refused too.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "port must be a number from 0 to 65535"
	}
	return ""
}

// ssfReasonReceivers returns the client ids of ssf_reason_receivers.
func (c Config) ssfReasonReceivers() []string {
	var out []string
	for id := range strings.SplitSeq(c.SSFReasonReceivers, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// outboundPolicy is what Weft may send to (access/outbound): loopback while the issuer
// is on loopback (a laptop, where the relying parties run beside it) or when allowed.
func (c Config) outboundPolicy() outbound.Policy {
	p, _ := c.parseOutboundAllow() // Validate refused any problem
	p.Loopback = c.OutboundAllowLoopback || outbound.IssuerOnLoopback(c.Issuer)
	return p
}

func (c Config) parseOutboundAllow() (outbound.Policy, string) {
	var entries []string
	for e := range strings.SplitSeq(c.OutboundAllow, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	prefixes, hosts, err := outbound.ParseAllow(entries)
	if err != nil {
		return outbound.Policy{}, err.Error()
	}
	for _, p := range prefixes {
		if p.Bits() == 0 {
			return outbound.Policy{}, fmt.Sprintf("entry %s allows every address, which would let receivers reach any internal service", p)
		}
	}
	return outbound.Policy{Allow: prefixes, AllowHosts: hosts}, ""
}

// trustedProxies returns the parsed trusted_proxies of a validated Config.
func (c Config) trustedProxies() []netip.Prefix {
	ps, _ := parseTrustedProxies(c.TrustedProxies) // Validate refused any problem
	return ps
}

// parseTrustedProxies parses trusted_proxies, a comma-separated list of IP addresses
// and CIDR prefixes, and returns the problem with the first bad entry, named. It is
// strict because a loose entry widens who may choose the client IP that risk
// scoring, rate limits and the audit log rely on: "10.0.0.1/8" (host bits set) is
// refused rather than read as 10.0.0.0/8, and a /0 is refused outright.
func parseTrustedProxies(s string) ([]netip.Prefix, string) {
	if strings.TrimSpace(s) == "" {
		return nil, ""
	}
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		e := strings.TrimSpace(entry)
		if e == "" {
			return nil, "has an empty entry; separate IPs and CIDR prefixes with single commas"
		}
		var p netip.Prefix
		if strings.Contains(e, "/") {
			var err error
			if p, err = netip.ParsePrefix(e); err != nil {
				return nil, fmt.Sprintf("entry %q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", e)
			}
			if p != p.Masked() {
				return nil, fmt.Sprintf("entry %q has bits set past the prefix length: write %s, or %s for the one address",
					e, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
			}
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Sprintf("entry %q is not an IP address or CIDR prefix", e)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		switch {
		case p.Addr().Is4In6():
			// Peers are compared unmapped, so a mapped entry would never match.
			return nil, fmt.Sprintf("entry %q is an IPv4-mapped IPv6 address; write it in IPv4 form", e)
		case p.Bits() == 0:
			return nil, fmt.Sprintf("entry %q trusts every address, which would let any client choose its IP", e)
		}
		out = append(out, p)
	}
	return out, ""
}

// checkIssuer applies OpenID Connect Discovery 1.0 section 3: the issuer is an https URL
// with no query or fragment, and it is compared as a string, so a trailing slash would
// make "https://id.example.com" and "https://id.example.com/" two different issuers.
func checkIssuer(s string) string {
	const absolute = "must be an absolute http or https URL"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return absolute
	}
	switch {
	case u.User != nil:
		return "must not contain a user or password"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment"
	case strings.HasSuffix(u.Path, "/"):
		return fmt.Sprintf("must not end with a slash (use %q)", strings.TrimRight(s, "/"))
	case u.Scheme == "http" && !outbound.IsLoopbackHost(u.Hostname()):
		// Tokens and cookies would cross the network in clear.
		return "http issuer only allowed on loopback; use https"
	}
	return ""
}

// urlProblem describes a parse failure without the URL itself: *url.Error quotes the
// whole input, password included.
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a valid URL: " + ue.Err.Error()
	}
	return "not a valid URL"
}

func checkDatabaseURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return urlProblem(err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" || u.Opaque != "" {
		return "only PostgreSQL URLs (postgres:// or postgresql://) are supported; leave it empty for the embedded SQLite database in data_dir"
	}
	return ""
}

func checkRedisURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return urlProblem(err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" || u.Opaque != "" {
		return "must be a redis:// or rediss:// URL; leave it empty to run without Redis"
	}
	if _, err := redis.ParseURL(s); err != nil {
		msg := err.Error()
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, redacted) // go-redis may echo parts of the URL
		}
		return msg
	}
	return ""
}

// suggest offers the closest known key for a misspelt one, including the common slips
// of writing the flag or environment spelling in the file.
func suggest(key string) string {
	norm := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(key), "weft_"), "-", "_")
	best, bestDist := "", 3 // suggest only within two edits
	for _, s := range settings {
		if s.Key == norm {
			return fmt.Sprintf(" (did you mean %q?)", s.Key)
		}
		if d := editDistance(norm, s.Key); d < bestDist {
			best, bestDist = s.Key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, enough for keys of a few dozen bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagValue holds a setting's flag text. Set checks only the type, so "--db-max-open-conns
// lots" fails while arguments are parsed, naming the flag the user typed; ranges are
// checked with everything else by Validate.
type flagValue struct {
	key  string
	text string
}

func (v *flagValue) String() string { return v.text }

func (v *flagValue) Set(s string) error {
	var scratch Config
	if problem := parseValue(scratch.ref(v.key), s); problem != "" {
		return errors.New(problem)
	}
	v.text = s
	return nil
}

func (v *flagValue) Type() string {
	var scratch Config
	return flagType(scratch.ref(v.key))
}

// registerConfigFlags adds one flag per setting to fs, with the help from the table.
func registerConfigFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		f := fs.VarPF(&flagValue{key: s.Key, text: s.Default}, s.Flag, "", s.Doc+" (env "+s.Env+")")
		if f.Value.Type() == "bool" {
			f.NoOptDefVal = "true" // --migrate-on-start alone means true
		}
	}
}

// configReference returns the settings as a Markdown table for README.md.
func configReference() string {
	var b strings.Builder
	b.WriteString("| Setting | Env var | Flag | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range settings {
		def := "(empty)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `--%s` | %s | %s |\n", s.Key, s.Env, s.Flag, def, s.Doc)
	}
	return b.String()
}

// nodeName is the configured node name, or hostname-pid-random: unique among running
// nodes (several may share a process, as in tests) and readable in receipts.
func (c Config) nodeName() string {
	if c.NodeName != "" {
		return c.NodeName
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "weft"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:6])
}
