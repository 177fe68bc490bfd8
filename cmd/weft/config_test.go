package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// update rewrites generated files instead of comparing them:
// go test ./cmd/weft -run TestREADME -update
var update = flag.Bool("update", false, "rewrite generated files (the configuration table in README.md)")

// wantDefaults spells out the documented defaults independently of the settings table.
var wantDefaults = Config{
	Listen:                 "127.0.0.1:8080",
	Issuer:                 "http://localhost:8080",
	DataDir:                "./weft-data",
	DatabaseURL:            "",
	RedisURL:               "",
	LogLevel:               "info",
	LogFormat:              "json",
	MigrateOnStart:         true,
	ShutdownTimeout:        15 * time.Second,
	DBMaxOpenConns:         20,
	DBMaxIdleConns:         20,
	DBConnMaxLifetime:      30 * time.Minute,
	BootstrapAdmin:         "admin",
	BootstrapAdminPassword: "",
	Argon2MemoryKiB:        65536,
	Argon2Time:             1,
	Argon2Threads:          2,
	AccessTokenTTL:         10 * time.Minute,
	RefreshTokenTTL:        720 * time.Hour,
	IDTokenTTL:             time.Hour,
	LoginSessionTTL:        12 * time.Hour,
	SigningKeysRefresh:     30 * time.Second,
	RedisPrefix:            "weft:",

	ClientAuthFailuresPerIP:     20,
	ClientAuthFailuresPerClient: 60,
	ClientAuthRefusalHold:       time.Second,
	LoginFailuresPerIP:          20,
	LoginFailuresPerAccountIP:   5,
	LoginFailuresPerAccount:     10,
	LoginMaxDelay:               5 * time.Second,
	LoginMaxInFlightPerIP:       4,
	OutboxConcurrency:           16,
	OutboxPerTarget:             2,
	OutboxTimeout:               5 * time.Second,
	OutboxPollInterval:          30 * time.Second,
	OutboxMaxAttempts:           100,
	OutboxGiveUpAfter:           24 * time.Hour,
}

// newFlags returns a flag set with the config flags, parsed from args.
func newFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("weft", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.String("config", "", "not a setting; must be ignored by loadConfig")
	registerConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs
}

// writeFile writes a YAML file into a fresh temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weft.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultConfig(t *testing.T) {
	if got := defaultConfig(); got != wantDefaults {
		t.Fatalf("defaultConfig() =\n%#v\nwant\n%#v", got, wantDefaults)
	}
	if err := defaultConfig().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for name, fs := range map[string]*pflag.FlagSet{"nil flag set": nil, "no flags passed": newFlags(t)} {
		t.Run(name, func(t *testing.T) {
			// Unrelated variables, WEFT_TEST_* and unknown WEFT_* ones change nothing.
			environ := []string{"PATH=/bin", "WEFT_TEST_POSTGRES_URL=postgres://x", "WEFT_NOT_A_SETTING=1", "NOEQUALSIGN"}
			got, err := loadConfig("", environ, fs)
			if err != nil {
				t.Fatal(err)
			}
			if got != wantDefaults {
				t.Fatalf("loadConfig with nothing set =\n%#v\nwant\n%#v", got, wantDefaults)
			}
		})
	}
}

func TestLoadConfig_Precedence(t *testing.T) {
	cases := []struct {
		name  string
		file  string // YAML; "" means no file
		env   []string
		flags []string
		check func(c Config) error
	}{
		{
			name: "file over default",
			file: "listen: 0.0.0.0:9000\nmigrate_on_start: false\nshutdown_timeout: 1m\nargon2_threads: 4\ndb_max_open_conns: 50\n",
			check: func(c Config) error {
				return expect(c.Listen == "0.0.0.0:9000" && !c.MigrateOnStart && c.ShutdownTimeout == time.Minute &&
					c.Argon2Threads == 4 && c.DBMaxOpenConns == 50 && c.LogLevel == "info", c)
			},
		},
		{
			name: "env over file",
			file: "listen: 0.0.0.0:9000\nmigrate_on_start: false\nlog_level: debug\n",
			env:  []string{"WEFT_LISTEN=0.0.0.0:9001", "WEFT_MIGRATE_ON_START=true"},
			check: func(c Config) error {
				return expect(c.Listen == "0.0.0.0:9001" && c.MigrateOnStart && c.LogLevel == "debug", c)
			},
		},
		{
			name:  "flag over env over file",
			file:  "listen: 0.0.0.0:9000\nshutdown_timeout: 1m\n",
			env:   []string{"WEFT_LISTEN=0.0.0.0:9001", "WEFT_SHUTDOWN_TIMEOUT=2m"},
			flags: []string{"--listen=0.0.0.0:9002", "--shutdown-timeout", "3m"},
			check: func(c Config) error {
				return expect(c.Listen == "0.0.0.0:9002" && c.ShutdownTimeout == 3*time.Minute, c)
			},
		},
		{
			name:  "flag not passed does not override env",
			env:   []string{"WEFT_LISTEN=0.0.0.0:9001", "WEFT_MIGRATE_ON_START=false"},
			flags: []string{"--log-level=warn"},
			check: func(c Config) error {
				return expect(c.Listen == "0.0.0.0:9001" && !c.MigrateOnStart && c.LogLevel == "warn", c)
			},
		},
		{
			name:  "flag passed with the default value still overrides",
			env:   []string{"WEFT_LISTEN=0.0.0.0:9001"},
			flags: []string{"--listen=127.0.0.1:8080"},
			check: func(c Config) error { return expect(c.Listen == "127.0.0.1:8080", c) },
		},
		{
			name:  "bool flag without a value means true",
			env:   []string{"WEFT_MIGRATE_ON_START=false"},
			flags: []string{"--migrate-on-start"},
			check: func(c Config) error { return expect(c.MigrateOnStart, c) },
		},
		{
			name:  "bool flag set to false",
			file:  "migrate_on_start: true\n",
			flags: []string{"--migrate-on-start=false"},
			check: func(c Config) error { return expect(!c.MigrateOnStart, c) },
		},
		{
			name: "empty env value overrides the file",
			file: "database_url: postgres://weft@db/weft\n",
			env:  []string{"WEFT_DATABASE_URL="},
			check: func(c Config) error {
				return expect(c.DatabaseURL == "", c)
			},
		},
		{
			name: "later env entry wins",
			env:  []string{"WEFT_LISTEN=0.0.0.0:1", "WEFT_LISTEN=127.0.0.1:0"},
			check: func(c Config) error {
				return expect(c.Listen == "127.0.0.1:0", c)
			},
		},
		{
			name: "every type through the environment",
			env: []string{
				"WEFT_ISSUER=https://id.example.com/weft", "WEFT_DATA_DIR=/var/lib/weft",
				"WEFT_DATABASE_URL=postgresql://weft:pw@db:5432/weft?sslmode=verify-full",
				"WEFT_REDIS_URL=rediss://:pw@cache:6379/1", "WEFT_LOG_FORMAT=text",
				"WEFT_DB_MAX_OPEN_CONNS=1000", "WEFT_DB_MAX_IDLE_CONNS=1000", "WEFT_DB_CONN_MAX_LIFETIME=0",
				"WEFT_BOOTSTRAP_ADMIN=root", "WEFT_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery",
				"WEFT_ARGON2_MEMORY_KIB=1048576", "WEFT_ARGON2_TIME=16", "WEFT_ARGON2_THREADS=64",
			},
			check: func(c Config) error {
				return expect(c.Issuer == "https://id.example.com/weft" && c.DataDir == "/var/lib/weft" &&
					c.DatabaseURL == "postgresql://weft:pw@db:5432/weft?sslmode=verify-full" &&
					c.RedisURL == "rediss://:pw@cache:6379/1" && c.LogFormat == "text" &&
					c.DBMaxOpenConns == 1000 && c.DBMaxIdleConns == 1000 && c.DBConnMaxLifetime == 0 &&
					c.BootstrapAdmin == "root" && c.BootstrapAdminPassword == "correct horse battery" &&
					c.Argon2MemoryKiB == 1048576 && c.Argon2Time == 16 && c.Argon2Threads == 64, c)
			},
		},
		{
			name:  "every flag name",
			flags: allFlagArgs(),
			check: func(c Config) error {
				return expect(c.DataDir == "/srv/weft" && c.DatabaseURL == "postgres://db/weft" &&
					c.RedisURL == "redis://cache:6379" && c.LogLevel == "error" && c.LogFormat == "text" &&
					c.DBMaxOpenConns == 5 && c.DBMaxIdleConns == 0 && c.DBConnMaxLifetime == time.Hour &&
					c.BootstrapAdmin == "ops" && c.BootstrapAdminPassword == "from-the-flag" &&
					c.Argon2MemoryKiB == 8192 && c.Argon2Time == 3 && c.Argon2Threads == 1 &&
					c.Issuer == "http://127.0.0.1:8080" && c.Listen == ":0" && c.ShutdownTimeout == 10*time.Minute, c)
			},
		},
		{
			name:  "trusted proxies by flag over env",
			env:   []string{"WEFT_TRUSTED_PROXIES=192.0.2.1"},
			flags: []string{"--trusted-proxies", " 10.0.0.0/8 , 192.0.2.10,2001:db8::/32 "},
			check: func(c Config) error {
				got := fmt.Sprint(c.trustedProxies())
				return expect(got == "[10.0.0.0/8 192.0.2.10/32 2001:db8::/32]", c)
			},
		},
		{
			name: "trusted proxies from the file",
			file: "trusted_proxies: 2001:db8::1\n",
			check: func(c Config) error {
				return expect(fmt.Sprint(c.trustedProxies()) == "[2001:db8::1/128]", c)
			},
		},
		{
			name:  "no trusted proxies",
			env:   []string{"WEFT_TRUSTED_PROXIES= "},
			check: func(c Config) error { return expect(c.trustedProxies() == nil, c) },
		},
		{
			name: "YAML null and quoted values",
			file: "database_url:\nlisten: \"[::1]:8443\"\nissuer: 'http://[::1]:8443'\n",
			check: func(c Config) error {
				return expect(c.DatabaseURL == "" && c.Listen == "[::1]:8443" && c.Issuer == "http://[::1]:8443", c)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			c, err := loadConfig(path, tc.env, newFlags(t, tc.flags...))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func expect(ok bool, c Config) error {
	if ok {
		return nil
	}
	// %#v on a Config is redacted; the tests only use throwaway secrets, so show them.
	type plain Config
	return fmt.Errorf("unexpected config: %+v", plain(c))
}

// allFlagArgs sets every setting by its flag, so a typo in a flag name fails the test.
func allFlagArgs() []string {
	return []string{
		"--listen=:0", "--issuer=http://127.0.0.1:8080", "--data-dir=/srv/weft",
		"--database-url=postgres://db/weft", "--redis-url=redis://cache:6379",
		"--log-level=error", "--log-format=text", "--migrate-on-start=true",
		"--shutdown-timeout=10m", "--db-max-open-conns=5", "--db-max-idle-conns=0",
		"--db-conn-max-lifetime=1h", "--bootstrap-admin=ops", "--bootstrap-admin-password=from-the-flag",
		"--argon2-memory-kib=8192", "--argon2-time=3", "--argon2-threads=1",
	}
}

func TestLoadConfig_Invalid(t *testing.T) {
	cases := []struct {
		env  string // one WEFT_X=value entry
		want string // part of the problem text
	}{
		{"WEFT_LISTEN=abc", `invalid WEFT_LISTEN (listen) "abc": must be host:port`},
		{"WEFT_LISTEN=", "must be host:port"},
		{"WEFT_LISTEN=localhost:http", "port must be a number from 0 to 65535"},
		{"WEFT_LISTEN=:65536", "port must be a number from 0 to 65535"},
		{"WEFT_LISTEN=:-1", "port must be a number from 0 to 65535"},
		{"WEFT_METRICS_LISTEN=abc", `invalid WEFT_METRICS_LISTEN (metrics_listen) "abc": must be host:port`},
		{"WEFT_METRICS_LISTEN=127.0.0.1:8080", "must differ from listen"},
		{"WEFT_ISSUER=id.example.com", "must be an absolute http or https URL"},
		{"WEFT_ISSUER=ftp://id.example.com", "must be an absolute http or https URL"},
		{"WEFT_ISSUER=https://", "must be an absolute http or https URL"},
		{"WEFT_ISSUER=https://id.example.com/", `must not end with a slash (use "https://id.example.com")`},
		{"WEFT_ISSUER=https://id.example.com/weft/", "must not end with a slash"},
		{"WEFT_ISSUER=https://id.example.com?tenant=a", "must not have a query"},
		{"WEFT_ISSUER=https://id.example.com?", "must not have a query"},
		{"WEFT_ISSUER=https://id.example.com#top", "must not have a fragment"},
		{"WEFT_ISSUER=https://u:p@id.example.com", "must not contain a user or password"},
		{"WEFT_ISSUER=http://id.example.com", "http issuer only allowed on loopback; use https"},
		{"WEFT_ISSUER=http://10.0.0.1:8080", "http issuer only allowed on loopback; use https"},
		{"WEFT_DATA_DIR=", "must not be empty"},
		{"WEFT_DATA_DIR=  ", "must not be empty"},
		{"WEFT_DATABASE_URL=mysql://weft@db/weft", "only PostgreSQL URLs (postgres:// or postgresql://) are supported; leave it empty for the embedded SQLite"},
		{"WEFT_DATABASE_URL=/var/lib/weft.db", "only PostgreSQL URLs"},
		{"WEFT_DATABASE_URL=postgres://db:bad/weft", "not a valid URL"},
		{"WEFT_REDIS_URL=http://cache:6379", "must be a redis:// or rediss:// URL"},
		{"WEFT_REDIS_URL=redis://cache:6379/notadb", "invalid database number"},
		{"WEFT_REDIS_URL=redis://cache:port", "not a valid URL"},
		{"WEFT_LOG_LEVEL=loud", "must be debug, info, warn or error"},
		{"WEFT_LOG_LEVEL=INFO", "must be debug, info, warn or error"},
		{"WEFT_LOG_FORMAT=xml", "must be json or text"},
		{"WEFT_MIGRATE_ON_START=maybe", `invalid WEFT_MIGRATE_ON_START (migrate_on_start) "maybe": must be true or false`},
		{"WEFT_SHUTDOWN_TIMEOUT=15", "must be a duration such as 15s"},
		{"WEFT_SHUTDOWN_TIMEOUT=0s", "must be more than 0 and at most 10m"},
		{"WEFT_SHUTDOWN_TIMEOUT=-1s", "must be more than 0 and at most 10m"},
		{"WEFT_SHUTDOWN_TIMEOUT=11m", "must be more than 0 and at most 10m"},
		{"WEFT_DB_MAX_OPEN_CONNS=lots", `invalid WEFT_DB_MAX_OPEN_CONNS (db_max_open_conns) "lots": must be an integer`},
		{"WEFT_DB_MAX_OPEN_CONNS=0", "must be from 1 to 1000"},
		{"WEFT_DB_MAX_OPEN_CONNS=1001", "must be from 1 to 1000"},
		{"WEFT_CLIENT_AUTH_FAILURES_PER_IP=0", "must be from 1 to 100000"},
		{"WEFT_CLIENT_AUTH_FAILURES_PER_CLIENT=100001", "must be from 1 to 100000"},
		{"WEFT_LOGIN_FAILURES_PER_ACCOUNT=-1", "must be from 1 to 100000"},
		{"WEFT_LOGIN_MAX_DELAY=31s", "must be from 0s to 30s"},
		{"WEFT_CLIENT_AUTH_REFUSAL_HOLD=11s", "must be from 0s to 10s"},
		{"WEFT_CLIENT_AUTH_REFUSAL_HOLD=-1s", "must be from 0s to 10s"},
		{"WEFT_LOGIN_MAX_IN_FLIGHT_PER_IP=0", "must be from 1 to 1000"},
		{"WEFT_DB_MAX_IDLE_CONNS=-1", "must be from 0 to 1000"},
		{"WEFT_DB_MAX_IDLE_CONNS=1001", "must be from 0 to 1000"},
		{"WEFT_DB_MAX_IDLE_CONNS=2.5", "must be an integer"},
		{"WEFT_DB_CONN_MAX_LIFETIME=-1m", "must not be negative"},
		{"WEFT_DB_CONN_MAX_LIFETIME=forever", "must be a duration"},
		{"WEFT_BOOTSTRAP_ADMIN=", "must not be empty"},
		{"WEFT_BOOTSTRAP_ADMIN=the admin", "must not contain whitespace"},
		{"WEFT_BOOTSTRAP_ADMIN=admin\t", "must not contain whitespace"},
		{"WEFT_ARGON2_MEMORY_KIB=12", "must be from 8192 (8 MiB) to 1048576 (1 GiB)"},
		{"WEFT_ARGON2_MEMORY_KIB=1048577", "must be from 8192 (8 MiB) to 1048576 (1 GiB)"},
		{"WEFT_ARGON2_MEMORY_KIB=5000000000", "must be an integer from 0 to 4294967295"},
		{"WEFT_ARGON2_MEMORY_KIB=64MiB", "must be an integer"},
		{"WEFT_ARGON2_TIME=0", "must be from 1 to 16"},
		{"WEFT_ARGON2_TIME=17", "must be from 1 to 16"},
		{"WEFT_ARGON2_TIME=-1", "must be an integer from 0 to 4294967295"},
		{"WEFT_ARGON2_THREADS=0", "must be from 1 to 64"},
		{"WEFT_ARGON2_THREADS=65", "must be from 1 to 64"},
		{"WEFT_ARGON2_THREADS=256", "must be an integer from 0 to 255"},
		{"WEFT_TRUSTED_PROXIES=10.0.0.1,proxy.internal", `entry "proxy.internal" is not an IP address or CIDR prefix`},
		{"WEFT_TRUSTED_PROXIES=10.0.0.0/33", `entry "10.0.0.0/33" is not a CIDR prefix`},
		{"WEFT_TRUSTED_PROXIES=10.0.0.1/8", `entry "10.0.0.1/8" has bits set past the prefix length: write 10.0.0.0/8, or 10.0.0.1/32 for the one address`},
		{"WEFT_TRUSTED_PROXIES=2001:db8::1/32", `write 2001:db8::/32, or 2001:db8::1/128`},
		{"WEFT_TRUSTED_PROXIES=10.0.0.1,,10.0.0.2", "has an empty entry"},
		{"WEFT_TRUSTED_PROXIES=10.0.0.1,", "has an empty entry"},
		{"WEFT_TRUSTED_PROXIES=0.0.0.0/0", `entry "0.0.0.0/0" trusts every address`},
		{"WEFT_TRUSTED_PROXIES=::/0", `entry "::/0" trusts every address`},
		{"WEFT_TRUSTED_PROXIES=::ffff:10.0.0.1", "IPv4-mapped IPv6 address; write it in IPv4 form"},
		{"WEFT_TRUSTED_PROXIES=fe80::1%eth0", `entry "fe80::1%eth0" is not an IP address or CIDR prefix`},
		{"WEFT_OUTBOX_CONCURRENCY=0", "must be from 1 to 1000"},
		{"WEFT_OUTBOX_CONCURRENCY=1001", "must be from 1 to 1000"},
		{"WEFT_OUTBOX_PER_TARGET=0", "must be from 1 to outbox_concurrency"},
		{"WEFT_OUTBOX_PER_TARGET=17", "must be from 1 to outbox_concurrency"},
		{"WEFT_OUTBOX_TIMEOUT=10ms", "must be from 100ms to 1m0s"},
		{"WEFT_OUTBOX_TIMEOUT=2m", "must be from 100ms to 1m0s"},
		{"WEFT_OUTBOX_POLL_INTERVAL=0s", "must be from 1s to 1h0m0s"},
		{"WEFT_OUTBOX_MAX_ATTEMPTS=0", "must be from 1 to 100000"},
		{"WEFT_OUTBOX_GIVE_UP_AFTER=30s", "must be from 1m0s to 720h0m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.env, "=")
			s, ok := lookupSetting(func(s setting) bool { return s.Env == name })
			if !ok {
				t.Fatalf("test case for unknown variable %s", name)
			}
			_, err := loadConfig("", []string{tc.env}, newFlags(t))
			if err == nil {
				t.Fatalf("%s: no error", tc.env)
			}
			msg := err.Error()
			for _, want := range []string{"invalid " + s.Env + " (" + s.Key + ")", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q\ndoes not contain %q", msg, want)
				}
			}
		})
	}
}

func TestLoadConfig_InvalidFromFileAndFlags(t *testing.T) {
	// The same message shape, naming the variable, whatever the source.
	path := writeFile(t, "db_max_open_conns: lots\nargon2_threads: 1.5\nlisten: [a, b]\n")
	_, err := loadConfig(path, nil, nil)
	for _, want := range []string{
		`invalid WEFT_DB_MAX_OPEN_CONNS (db_max_open_conns) "lots": must be an integer`,
		`invalid WEFT_ARGON2_THREADS (argon2_threads) "1.5": must be an integer`,
		`invalid WEFT_LISTEN (listen)`, "must be a single value",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not contain %q", err, want)
		}
	}

	// Range errors of flag values surface from loadConfig; type errors while parsing,
	// naming the flag as typed.
	_, err = loadConfig("", nil, newFlags(t, "--argon2-time=99"))
	if err == nil || !strings.Contains(err.Error(), "invalid WEFT_ARGON2_TIME (argon2_time)") {
		t.Errorf("range error from a flag: %v", err)
	}
	fs := pflag.NewFlagSet("weft", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	registerConfigFlags(fs)
	err = fs.Parse([]string{"--db-max-open-conns=lots"})
	if err == nil || !strings.Contains(err.Error(), "--db-max-open-conns") || !strings.Contains(err.Error(), "must be an integer") {
		t.Errorf("type error from a flag: %v", err)
	}
}

func TestLoadConfig_MultipleProblemsReportedTogether(t *testing.T) {
	_, err := loadConfig("", []string{"WEFT_LISTEN=abc", "WEFT_LOG_FORMAT=xml", "WEFT_ARGON2_TIME=0"}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"WEFT_LISTEN", "WEFT_LOG_FORMAT", "WEFT_ARGON2_TIME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestLoadConfig_FileErrors(t *testing.T) {
	cases := []struct {
		name    string
		content string // written to weft.yaml; "-" means no file at all
		want    []string
	}{
		{"unknown key", "listen: 127.0.0.1:1\nlistn: 0.0.0.0:80\n", []string{`unknown setting "listn"`, `did you mean "listen"?`}},
		{"every unknown key", "listn: x\nisuer: y\n", []string{`unknown setting "listn"`, `unknown setting "isuer"`, `did you mean "issuer"?`}},
		{"flag spelling", "data-dir: /srv\n", []string{`unknown setting "data-dir"`, `did you mean "data_dir"?`}},
		{"env spelling", "WEFT_LOG_LEVEL: debug\n", []string{`unknown setting "WEFT_LOG_LEVEL"`, `did you mean "log_level"?`}},
		{"unrelated key", "tls:\n  cert: x.pem\n", []string{`unknown setting "tls.cert"`}},
		{"malformed YAML", "listen: [127.0.0.1\nissuer: x\n", []string{"yaml"}},
		{"not a mapping", "- listen\n", []string{"config file"}},
		{"missing file", "-", []string{"no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent.yaml")
			if tc.content != "-" {
				path = writeFile(t, tc.content)
			}
			_, err := loadConfig(path, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append([]string{"config file " + path + ": "}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
	// An empty file is a file with no settings, not an error.
	if _, err := loadConfig(writeFile(t, ""), nil, nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c := defaultConfig()
	c.DatabaseURL = "postgres://weft:hunter2@db:5432/weft?sslmode=verify-full&sslpassword=keypass"
	c.RedisURL = "rediss://:redispass@cache:6379/0"
	c.BootstrapAdminPassword = "bootpass"
	orig := c

	r := c.Redacted()
	if c != orig {
		t.Fatal("Redacted changed its receiver")
	}
	if r.DatabaseURL != "postgres://weft:xxxxx@db:5432/weft?sslmode=verify-full&sslpassword=xxxxx" {
		t.Errorf("DatabaseURL = %q", r.DatabaseURL)
	}
	if r.RedisURL != "rediss://:xxxxx@cache:6379/0" {
		t.Errorf("RedisURL = %q", r.RedisURL)
	}
	if r.BootstrapAdminPassword != "(set)" {
		t.Errorf("BootstrapAdminPassword = %q", r.BootstrapAdminPassword)
	}
	if r.Listen != c.Listen || r.Argon2MemoryKiB != c.Argon2MemoryKiB {
		t.Error("Redacted changed a setting that is not secret")
	}
	if e := defaultConfig().Redacted(); e != defaultConfig() {
		t.Errorf("Redacted of a config without secrets changed it: %+v", e)
	}
	if got := redactURL("postgres://weft@db/weft"); got != "postgres://weft@db/weft" {
		t.Errorf("URL without password changed: %q", got)
	}
	if got := redactURL("host=db password=hunter2"); got != "xxxxx" {
		t.Errorf("unredactable DSN shown: %q", got)
	}

	// Every way a Config reaches a log or a terminal hides the secrets.
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "config", c)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("start", "config", c)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		//lint:ignore S1025 each formatting verb is what is under test
		"%s":       fmt.Sprintf("%s", c),
		"json log": jsonLog.String(), "text log": textLog.String(),
	}
	for how, out := range outputs {
		for _, secret := range []string{"hunter2", "keypass", "redispass", "bootpass"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %q: %s", how, secret, out)
			}
		}
	}
	// An unset bootstrap password is left out entirely.
	var quiet bytes.Buffer
	slog.New(slog.NewJSONHandler(&quiet, nil)).Info("start", "config", defaultConfig())
	if s := quiet.String() + defaultConfig().String(); strings.Contains(strings.ToLower(s), "password") {
		t.Errorf("a config without bootstrap password mentions one: %s", s)
	}
	for _, want := range []string{`"shutdown_timeout":"15s"`, `"argon2_memory_kib":65536`, `"bootstrap_admin_password":"(set)"`} {
		if !strings.Contains(jsonLog.String(), want) {
			t.Errorf("json log lacks %s: %s", want, jsonLog.String())
		}
	}
}

func TestLoadConfig_ErrorsHideSecrets(t *testing.T) {
	for _, env := range []string{
		"WEFT_DATABASE_URL=mysql://weft:hunter2@db/weft",
		"WEFT_DATABASE_URL=postgres://weft:hunter2@db:bad/weft",
		"WEFT_DATABASE_URL=host=db password=hunter2",
		"WEFT_REDIS_URL=http://:hunter2@cache",
		"WEFT_REDIS_URL=redis://:hunter2@cache:6379/notadb",
		"WEFT_REDIS_URL=redis://:hunter2@cache:bad",
	} {
		_, err := loadConfig("", []string{env}, nil)
		if err == nil {
			t.Errorf("%s: no error", env)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", env, err)
		}
	}
}

func TestSettings_Table(t *testing.T) {
	seen := map[string]string{}
	unique := func(kind, v string) {
		if prev, dup := seen[kind+v]; dup {
			t.Errorf("%s %q used twice (also by %s)", kind, v, prev)
		}
		seen[kind+v] = v
	}
	kebab := strings.NewReplacer("_", "-")
	var c Config
	fields := map[uintptr]string{}
	for _, s := range settings {
		unique("key", s.Key)
		unique("env", s.Env)
		unique("flag", s.Flag)
		if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(s.Key) {
			t.Errorf("key %q is not snake_case", s.Key)
		}
		if !strings.HasPrefix(s.Env, "WEFT_") || s.Env != "WEFT_"+strings.ToUpper(s.Key) {
			t.Errorf("%s: env %q, want WEFT_%s", s.Key, s.Env, strings.ToUpper(s.Key))
		}
		if strings.HasPrefix(s.Env, "WEFT_TEST_") {
			t.Errorf("%s: WEFT_TEST_ is reserved for tests", s.Env)
		}
		if s.Flag != kebab.Replace(s.Key) {
			t.Errorf("%s: flag %q, want %q", s.Key, s.Flag, kebab.Replace(s.Key))
		}
		if s.Doc == "" || strings.ContainsAny(s.Doc, "|`\n") {
			t.Errorf("%s: doc must be one non-empty line without | or backquotes: %q", s.Key, s.Doc)
		}
		p := reflect.ValueOf(c.ref(s.Key)).Pointer() // panics for a key without a field
		if other, dup := fields[p]; dup {
			t.Errorf("%s and %s share a field", s.Key, other)
		}
		fields[p] = s.Key
		var scratch Config
		if problem := parseValue(scratch.ref(s.Key), s.Default); problem != "" {
			t.Errorf("%s: default %q: %s", s.Key, s.Default, problem)
		}
	}
	if n := reflect.TypeOf(Config{}).NumField(); n != len(settings) {
		t.Errorf("Config has %d fields and settings %d rows: every field needs a setting", n, len(settings))
	}
}

func TestRegisterConfigFlags_Help(t *testing.T) {
	fs := pflag.NewFlagSet("weft", pflag.ContinueOnError)
	registerConfigFlags(fs)
	help := fs.FlagUsages()
	for _, s := range settings {
		f := fs.Lookup(s.Flag)
		if f == nil {
			t.Errorf("no flag --%s", s.Flag)
			continue
		}
		if f.DefValue != s.Default || !strings.Contains(f.Usage, s.Doc) || !strings.Contains(f.Usage, s.Env) {
			t.Errorf("--%s: default %q, usage %q", s.Flag, f.DefValue, f.Usage)
		}
	}
	for _, want := range []string{
		`--listen string`, `(default "127.0.0.1:8080")`, `--shutdown-timeout duration`, `(default 15s)`,
		`--argon2-threads uint8`, `--db-max-open-conns int`, `--migrate-on-start `, `(default true)`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

func TestConfigReference(t *testing.T) {
	ref := configReference()
	lines := strings.Split(strings.TrimSuffix(ref, "\n"), "\n")
	if len(lines) != 2+len(settings) || lines[0] != "| Setting | Env var | Flag | Default | Meaning |" {
		t.Fatalf("unexpected table:\n%s", ref)
	}
	for i, s := range settings {
		want := fmt.Sprintf("| `%s` | `%s` | `--%s` |", s.Key, s.Env, s.Flag)
		if !strings.HasPrefix(lines[2+i], want) || strings.Count(lines[2+i], "|") != 6 {
			t.Errorf("row %d = %q, want prefix %q and 5 columns", i, lines[2+i], want)
		}
	}
}

const (
	readmePath  = "../../README.md"
	tableStart  = "<!-- config-table:start"
	tableEnd    = "<!-- config-table:end -->"
	regenerate  = "go test ./cmd/weft -run TestREADME -update"
	missingNote = "README.md does not exist yet"
)

// TestREADMEConfigTable keeps README.md documenting every setting. With -update it
// rewrites the generated table between the config-table markers.
func TestREADMEConfigTable(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip(missingNote)
	}
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if *update {
		out, err := spliceConfigTable(readme)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readmePath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		readme = out
	}
	for _, s := range settings {
		// Word boundaries, so WEFT_BOOTSTRAP_ADMIN_PASSWORD does not count for WEFT_BOOTSTRAP_ADMIN.
		if !regexp.MustCompile(`\b` + s.Env + `\b`).MatchString(readme) {
			t.Errorf("README.md does not document %s (%s); run %s", s.Env, s.Key, regenerate)
		}
	}
	if strings.Contains(readme, tableStart) {
		want, err := spliceConfigTable(readme)
		if err != nil {
			t.Fatal(err)
		}
		if want != readme {
			t.Errorf("the configuration table in README.md is out of date; run %s", regenerate)
		}
	}
}

// spliceConfigTable replaces whatever lies between the markers with configReference().
func spliceConfigTable(readme string) (string, error) {
	i := strings.Index(readme, tableStart)
	if i < 0 {
		return "", fmt.Errorf("README.md has no %q marker", tableStart)
	}
	nl := strings.Index(readme[i:], "\n")
	if nl < 0 {
		return "", fmt.Errorf("README.md: nothing after %q", tableStart)
	}
	bodyStart := i + nl + 1
	j := strings.Index(readme[bodyStart:], tableEnd)
	if j < 0 {
		return "", fmt.Errorf("README.md has %q but no %q after it", tableStart, tableEnd)
	}
	return readme[:bodyStart] + "\n" + configReference() + "\n" + readme[bodyStart+j:], nil
}

func TestSpliceConfigTable(t *testing.T) {
	in := "# Weft\n\n" + tableStart + " (generated) -->\nstale\nrows\n" + tableEnd + "\n\nafter\n"
	out, err := spliceConfigTable(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Weft\n\n" + tableStart + " (generated) -->\n\n" + configReference() + "\n" + tableEnd + "\n\nafter\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if again, _ := spliceConfigTable(out); again != out {
		t.Error("splicing twice changed the result")
	}
	if _, err := spliceConfigTable("no markers"); err == nil {
		t.Error("no error without markers")
	}
}
