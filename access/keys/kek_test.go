package keys_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/weft-fabric/weft/access/keys"
)

func TestParseKEK(t *testing.T) {
	// 0xfb 0xff... makes '+' '/' in the standard alphabet and '-' '_' in the URL one.
	k := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"std padded", base64.StdEncoding.EncodeToString(k), true},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(k), true},
		{"url padded", base64.URLEncoding.EncodeToString(k), true},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(k), true},
		{"trailing newline (a file, an env var)", base64.StdEncoding.EncodeToString(k) + "\n", true},
		{"surrounding spaces", "  " + base64.StdEncoding.EncodeToString(k) + " \t", true},
		{"empty", "", false},
		{"blank", "   \n", false},
		{"16 bytes", base64.StdEncoding.EncodeToString(k[:16]), false},
		{"31 bytes", base64.StdEncoding.EncodeToString(k[:31]), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(k, 1)), false},
		{"64 bytes", base64.StdEncoding.EncodeToString(append(k, k...)), false},
		{"hex of 32 bytes", strings.Repeat("ab", 32), false},
		{"not base64", "this is not base64 at all, is it?!", false},
		{"mixed alphabets", strings.Replace(base64.StdEncoding.EncodeToString(k), "/", "_", 1), false},
		{"space inside", base64.StdEncoding.EncodeToString(k)[:20] + " " + base64.StdEncoding.EncodeToString(k)[20:], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.ParseKEK(tc.in)
			if tc.valid {
				if err != nil || !bytes.Equal(got, k) {
					t.Fatalf("ParseKEK = %x, %v; want the key", got, err)
				}
				return
			}
			if !errors.Is(err, keys.ErrInvalidKEK) || got != nil {
				t.Fatalf("ParseKEK = %x, %v; want ErrInvalidKEK", got, err)
			}
			if s := strings.TrimSpace(tc.in); len(s) > 4 && strings.Contains(err.Error(), s[:len(s)/2]) {
				t.Errorf("error %q echoes the value", err)
			}
		})
	}
}

var kekFileContent = regexp.MustCompile(`^[A-Za-z0-9+/]{43}=\n$`)

func TestLoadOrCreateKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "kek")
	kek, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil || !created || len(kek) != 32 {
		t.Fatalf("first call: %d bytes, created %v, %v", len(kek), created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !kekFileContent.Match(b) {
		t.Errorf("file holds %q, want base64 and a newline", b)
	}
	if parsed, err := keys.ParseKEK(string(b)); err != nil || !bytes.Equal(parsed, kek) {
		t.Errorf("file does not hold the returned key: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".kek.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	again, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil || created || !bytes.Equal(again, kek) {
		t.Fatalf("second call: created %v, same key %v, %v", created, bytes.Equal(again, kek), err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := keys.LoadOrCreateKEKFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want a refusal that says chmod 600", mode, err)
		} else if strings.Contains(err.Error(), strings.TrimSpace(string(b))) {
			t.Errorf("mode %04o: error %q contains the key", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil { // read-only for the owner is fine
		t.Fatal(err)
	}
	if got, _, err := keys.LoadOrCreateKEKFile(path); err != nil || !bytes.Equal(got, kek) {
		t.Errorf("mode 0400: %v", err)
	}

	// A damaged file is an error, never replaced by a new key (that would orphan every
	// stored signing key), and the error does not quote it.
	bad := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(bad, []byte("c2VjcmV0LXNob3J0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.LoadOrCreateKEKFile(bad); !errors.Is(err, keys.ErrInvalidKEK) || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("damaged file: %v", err)
	}
	if b2, _ := os.ReadFile(bad); string(b2) != "c2VjcmV0LXNob3J0\n" {
		t.Error("damaged file was overwritten")
	}
}

// Nodes starting together on one data directory agree on one key.
func TestLoadOrCreateKEKFile_Concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	const n = 16
	var (
		wg      sync.WaitGroup
		kek     [n][]byte
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() { kek[i], created[i], errs[i] = keys.LoadOrCreateKEKFile(path) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !bytes.Equal(kek[i], kek[0]) {
			t.Errorf("call %d got a different key", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d calls report creating the file, want 1", creators)
	}
}
