package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ParseKEK decodes a key-encryption key given as base64, standard or URL alphabet,
// padded or not, surrounding white space ignored. It must decode to exactly 32 bytes.
// Errors never repeat the value: it is a secret even when malformed.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidKEK)
	}
	var (
		b   []byte
		err error
	)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.Strict().DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64 (generate one with: openssl rand -base64 32)", ErrInvalidKEK)
	}
	if len(b) != kekSize {
		clear(b)
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", ErrInvalidKEK, len(b), kekSize)
	}
	return b, nil
}

// LoadOrCreateKEKFile returns the key-encryption key kept in the file at path,
// creating the file with a new random key (mode 0600, base64 and a newline) when it
// does not exist; created reports that it did. It is meant for the embedded default,
// where nobody configured a KEK: the caller should log a warning that the key sits
// beside the data it protects.
//
// An existing file readable or writable by group or others is refused, not used: its
// key must be presumed exposed, or the mode is a mistake the operator should fix.
// Concurrent first starts agree on one key: the file is written under a temporary name
// and linked into place, which fails if another process got there first.
func LoadOrCreateKEKFile(path string) (kek []byte, created bool, err error) {
	kek, err = readKEKFile(path)
	if err == nil {
		return kek, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create key-encryption key directory: %w", err)
	}
	kek = make([]byte, kekSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, false, fmt.Errorf("generate key-encryption key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("create key-encryption key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("write key-encryption key file: %w", werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process created it first: use theirs
			kek, err = readKEKFile(path)
			return kek, false, err
		}
		return nil, false, fmt.Errorf("create key-encryption key file: %w", err)
	}
	return kek, true, nil
}

// ReadKEKFile returns the key-encryption key kept in the file at path, under the same
// rules as LoadOrCreateKEKFile, but never creates one: for readers (weft audit verify)
// a new random key would only make everything it protects unreadable. A missing file
// is an error that wraps fs.ErrNotExist.
func ReadKEKFile(path string) ([]byte, error) { return readKEKFile(path) }

func readKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key-encryption key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key-encryption key file %s is not a regular file", path)
	}
	// Windows has no POSIX permission bits to check.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key file %s has mode %04o and is accessible to group or others: run chmod 600 %s",
			path, st.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("read key-encryption key file %s: %w", path, err)
	}
	defer clear(b)
	kek, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return kek, nil
}
