package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// AuditHeadFile is an AuditAnchor kept in a file (data_dir/audit-head): the newest
// audit checkpoint this node wrote, as one JSON object. It lives outside the database,
// so someone who can rewrite or truncate the database cannot also move it back; it is
// written 0600 through a temporary file and a rename, so a reader never sees half of it.
type AuditHeadFile struct{ Path string }

var _ AuditAnchor = AuditHeadFile{}

func (f AuditHeadFile) String() string { return f.Path }

// Load implements AuditAnchor.
func (f AuditHeadFile) Load() (AuditCheckpoint, bool, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return AuditCheckpoint{}, false, nil
	}
	if err != nil {
		return AuditCheckpoint{}, false, err
	}
	c, err := ParseAuditCheckpoint(b)
	if err != nil {
		return AuditCheckpoint{}, false, fmt.Errorf("%s: %w", f.Path, err)
	}
	c.Source = f.Path
	return c, true, nil
}

// Store implements AuditAnchor.
func (f AuditHeadFile) Store(c AuditCheckpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	return os.Rename(tmp.Name(), f.Path)
}

// ParseAuditCheckpoint reads a checkpoint in the form AuditHeadFile keeps and the log's
// "checkpoint" attribute shows: one JSON object, no unknown member.
func ParseAuditCheckpoint(b []byte) (AuditCheckpoint, error) {
	var c AuditCheckpoint
	dec := json.NewDecoder(io.LimitReader(bytes.NewReader(b), 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("not an audit checkpoint: %w", err)
	}
	if c.MAC == "" || c.At.IsZero() {
		return c, errors.New("not an audit checkpoint: mac and at are required")
	}
	return c, nil
}
