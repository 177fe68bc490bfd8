package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"unicode"

	"github.com/weft-fabric/weft/identity"
)

// subjectFormat is the one subject identifier format streams add: RFC 9493 iss_sub
// with Weft's issuer, the sub being the user's id (the sub of their ID tokens). It is
// the user member of every event Weft sends about a user.
const subjectFormat = "iss_sub"

// parseSubject returns the user id a subject identifier names, or a validation
// error on field "subject". Other formats are refused (SSF 1.0 section 8.1.3.2 lets a
// transmitter refuse subjects it does not support): Weft keys its events by user.
func (t *Transmitter) parseSubject(raw json.RawMessage) (string, error) {
	bad := invalid("subject", `must be {"format":"iss_sub","iss":"`+t.Issuer+`","sub":"<user id>"}`)
	if len(bytes.TrimSpace(raw)) == 0 {
		return "", invalid("subject", "is required")
	}
	var v map[string]any
	if json.Unmarshal(raw, &v) != nil || v == nil {
		return "", bad
	}
	format, _ := v["format"].(string)
	iss, _ := v["iss"].(string)
	sub, _ := v["sub"].(string)
	if len(v) != 3 || format != subjectFormat || iss != t.Issuer || sub == "" {
		return "", bad
	}
	if len(sub) > maxSubLen {
		return "", invalid("subject", fmt.Sprintf("sub must be at most %d characters", maxSubLen))
	}
	for _, r := range sub {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return "", invalid("subject", "sub must be printable, without spaces")
		}
	}
	return sub, nil
}

// AddSubject adds the subject to the client's stream (SSF 1.0 section 8.1.3.2): a
// stream with default subjects NONE then receives events about that user. The answer
// is the same whether or not the user exists, so the endpoint tells nobody who does.
func (t *Transmitter) AddSubject(ctx context.Context, clientID, streamID string, subject json.RawMessage) error {
	sub, err := t.parseSubject(subject)
	if err != nil {
		return err
	}
	return t.Tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.Streams.Stream(ctx, clientID, streamID); err != nil {
			return err
		}
		// Serialise the stream's additions so the limit holds under concurrency.
		if err := t.Tx.Lock(ctx, "ssf-subjects:"+streamID); err != nil {
			return err
		}
		n, err := t.Streams.CountSubjects(ctx, streamID)
		if err != nil {
			return err
		}
		if n >= MaxSubjectsPerStream {
			return fmt.Errorf("%w: a stream has at most %d subjects; remove one first", identity.ErrConflict, MaxSubjectsPerStream)
		}
		return t.Streams.AddSubject(ctx, streamID, sub, t.now())
	})
}

// RemoveSubject removes the subject from the client's stream (SSF 1.0 section
// 8.1.3.3); removing a subject the stream does not have is not an error.
func (t *Transmitter) RemoveSubject(ctx context.Context, clientID, streamID string, subject json.RawMessage) error {
	sub, err := t.parseSubject(subject)
	if err != nil {
		return err
	}
	return t.Tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.Streams.Stream(ctx, clientID, streamID); err != nil {
			return err
		}
		return t.Streams.RemoveSubject(ctx, streamID, sub)
	})
}
