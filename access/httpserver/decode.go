package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// FieldError is a request body that JSON decoding blames on one field: a member
// the target type does not have, or a value of the wrong JSON type. The error
// handler renders it as a 400 problem with the extension member "field"; a
// package with its own validation error type (admin) may map it to that.
type FieldError struct {
	// Field is the JSON name, dotted for nested objects ("delivery.method").
	Field string
	// Reason completes "<field> ...": "is not a known field", "must be a string".
	Reason string
}

// reasonUnknown is the Reason of a member the target type does not declare.
const reasonUnknown = "is not a known field"

// Error is the problem detail. It names the field but never quotes a value,
// which may be a secret (a password, a token).
func (e *FieldError) Error() string {
	if e.Reason == reasonUnknown {
		return fmt.Sprintf("unknown field %q", e.Field)
	}
	return fmt.Sprintf("field %q %s", e.Field, e.Reason)
}

// DecodeJSON reads the request body, which must be exactly one JSON object of at
// most limit bytes, into v. It is the only JSON body decoder of the API
// endpoints, so that every one holds input to the same rules:
//
//   - Content-Type must be application/json (parameters such as charset are
//     allowed), else a 415 *Problem. Even a missing type is refused: every
//     client of ours (admin, revocation and SSF tests, SSF 1.0 and RFC 8936,
//     which mandate application/json) sends it, and refusing the "simple" types
//     (form, text/plain) means no browser can post a body cross-site without a
//     CORS preflight.
//   - More than limit bytes is a 413 *Problem.
//   - Anything but one object (empty, null, an array, two objects, an object
//     followed by anything but white space) is a 400 *Problem. Trailing data is
//     refused because two parsers reading one body differently is how request
//     smuggling and policy bypasses start.
//   - A member v does not declare, or a value of the wrong JSON type, is a
//     *FieldError naming the field: a misspelt optional field must not be
//     silently ignored.
//   - A member named twice in one object is a *FieldError ("is given more than
//     once"), also when the names differ only in case or escaping: encoding/json
//     would keep the last and match struct fields case-insensitively, while a WAF
//     or a SIEM reading the same body may keep the first.
//
// Problem details never quote the body: it may hold passwords or tokens.
func DecodeJSON(c echo.Context, v any, limit int64) error {
	return decodeJSON(c, v, limit, true)
}

// DecodeJSONAllowUnknown is DecodeJSON for a protocol whose specification requires
// receivers to ignore members they do not know (AuthZEN Authorization API 1.0 section
// 10.1.1, for forward compatibility): the same rules, except that a member v does not
// declare is skipped instead of refused.
func DecodeJSONAllowUnknown(c echo.Context, v any, limit int64) error {
	return decodeJSON(c, v, limit, false)
}

func decodeJSON(c echo.Context, v any, limit int64, strict bool) error {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return &Problem{Status: http.StatusUnsupportedMediaType, Title: "Unsupported Media Type",
			Detail: "the request body must be application/json"}
	}
	body := []byte{}
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Problem{Status: http.StatusRequestEntityTooLarge, Title: "Content Too Large",
				Detail: fmt.Sprintf("the request body must be at most %d bytes", limit)}
		}
		if err != nil {
			return badRequest("the request body could not be read")
		}
	}
	// Checked before decoding: json would happily decode null or an array element
	// into v, or report a type error naming no field.
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return badRequest("the request body must be a JSON object")
	}
	if err := duplicateMember(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	// Token, not More: More reports false for a stray ']' or '}', which would let
	// `{...}]` through.
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request body must hold exactly one JSON object")
	}
	return nil
}

// reasonDuplicate is the Reason of a member named twice in one object.
const reasonDuplicate = "is given more than once"

// duplicateMember walks body's tokens and returns a *FieldError for the first
// member whose name (unescaped, folded to lower case: encoding/json matches struct
// fields case-insensitively) repeats one earlier in the same object. Malformed JSON
// is left to the decoder, which reports it with an offset.
func duplicateMember(body []byte) error {
	type object struct {
		path  string
		names map[string]bool
		key   bool // the next token is a member name
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var (
		stack []*object
		last  string // the member name whose value comes next
	)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or malformed: DecodeJSON's decoder says which
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.key {
			if name, ok := tok.(string); ok {
				folded := strings.ToLower(name)
				field := joinField(top.path, name)
				if top.names[folded] {
					return &FieldError{Field: field, Reason: reasonDuplicate}
				}
				top.names[folded], top.key, last = true, false, field
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			// A nested value's path: the member it is the value of, or for an array
			// element the array's own path.
			path := ""
			if top != nil && top.names != nil {
				path = last
			} else if top != nil {
				path = top.path
			}
			o := &object{path: path}
			if tok == json.Delim('{') {
				o.names, o.key = map[string]bool{}, true
			}
			stack = append(stack, o)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a name comes next.
		if len(stack) > 0 && stack[len(stack)-1].names != nil {
			stack[len(stack)-1].key = true
		}
	}
}

// joinField is path.name, the dotted form FieldError uses.
func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decodeError turns a json error into a problem that says where, never what:
// json's own messages may quote a piece of the body.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends too early")
	case errors.As(err, &typ) && typ.Field != "":
		return &FieldError{Field: typ.Field, Reason: "must be " + jsonKind(typ.Type)}
	case strings.HasPrefix(err.Error(), `json: unknown field "`):
		// encoding/json has no typed error for this; its message is stable API.
		if name, qerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field ")); qerr == nil {
			return &FieldError{Field: name, Reason: reasonUnknown}
		}
	}
	return badRequest("the request body does not match the expected JSON object")
}

// jsonKind names the JSON type that a Go type accepts, for "must be ...".
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

func badRequest(detail string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: detail}
}
