package httpserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

type decodeTarget struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
}

// decodeLimit is small so that the size cases stay readable.
const decodeLimit = 64

// padded returns {"name":"xx...x"} of exactly n bytes.
func padded(n int) string {
	const frame = len(`{"name":""}`)
	return `{"name":"` + strings.Repeat("x", n-frame) + `"}`
}

func TestDecodeJSON(t *testing.T) {
	const secret = "s3cret-value"
	tests := []struct {
		name   string
		ctype  string // "" = no Content-Type header
		body   string
		status int    // 200 = decoded and echoed back
		detail string // part of the problem detail
		field  string // the problem's "field" member
	}{
		{name: "valid object", ctype: "application/json", body: `{"name":"a","count":2,"tags":["x"],"inner":{"flag":true}}`, status: 200},
		{name: "white space around", ctype: "application/json", body: " \r\n\t{\"name\":\"a\"}\n ", status: 200},
		{name: "charset parameter", ctype: "application/json; charset=utf-8", body: `{"name":"a"}`, status: 200},
		{name: "media type is case-insensitive", ctype: "Application/JSON", body: `{"name":"a"}`, status: 200},
		{name: "empty object", ctype: "application/json", body: `{}`, status: 200},

		{name: "empty body", ctype: "application/json", body: ``, status: 400, detail: "must be a JSON object"},
		{name: "white space only", ctype: "application/json", body: "  \n", status: 400, detail: "must be a JSON object"},
		{name: "null", ctype: "application/json", body: `null`, status: 400, detail: "must be a JSON object"},
		{name: "array", ctype: "application/json", body: `[{"name":"a"}]`, status: 400, detail: "must be a JSON object"},
		{name: "string", ctype: "application/json", body: `"` + secret + `"`, status: 400, detail: "must be a JSON object"},
		{name: "two objects", ctype: "application/json", body: `{"name":"a"}{"name":"b"}`, status: 400, detail: "exactly one JSON object"},
		{name: "two objects with space", ctype: "application/json", body: `{"name":"a"} {}`, status: 400, detail: "exactly one JSON object"},
		{name: "trailing garbage", ctype: "application/json", body: `{"name":"a"} ` + secret, status: 400, detail: "exactly one JSON object"},
		// Decoder.More reports false here, which is how a stray bracket used to pass.
		{name: "trailing bracket", ctype: "application/json", body: `{"name":"a"}]`, status: 400, detail: "exactly one JSON object"},
		{name: "trailing brace", ctype: "application/json", body: `{"name":"a"}}`, status: 400, detail: "exactly one JSON object"},
		{name: "malformed", ctype: "application/json", body: `{"name":"` + secret + `",}`, status: 400, detail: "malformed JSON at byte"},
		{name: "malformed value", ctype: "application/json", body: `{"name":` + secret + `}`, status: 400, detail: "malformed JSON at byte"},
		{name: "truncated", ctype: "application/json", body: `{"name":"a"`, status: 400, detail: "ends too early"},

		{name: "unknown field", ctype: "application/json", body: `{"name":"a","x":"` + secret + `"}`, status: 400, detail: `unknown field "x"`, field: "x"},
		{name: "unknown nested field", ctype: "application/json", body: `{"inner":{"flag":true,"colour":1}}`, status: 400, detail: `unknown field "colour"`, field: "colour"},
		{name: "wrong type string", ctype: "application/json", body: `{"name":42}`, status: 400, detail: `field "name" must be a string`, field: "name"},
		{name: "wrong type number", ctype: "application/json", body: `{"count":"` + secret + `"}`, status: 400, detail: `field "count" must be a number`, field: "count"},
		{name: "wrong type array", ctype: "application/json", body: `{"tags":"` + secret + `"}`, status: 400, detail: `field "tags" must be an array of strings`, field: "tags"},
		{name: "wrong type nested", ctype: "application/json", body: `{"inner":{"flag":"yes"}}`, status: 400, detail: `field "inner.flag" must be a boolean`, field: "inner.flag"},
		{name: "wrong type object", ctype: "application/json", body: `{"inner":[]}`, status: 400, detail: `field "inner" must be an object`, field: "inner"},

		// One member, two values: which one counts depends on the parser (I7).
		{name: "duplicate member", ctype: "application/json", body: `{"name":"a","name":"` + secret + `"}`, status: 400, detail: `field "name" is given more than once`, field: "name"},
		{name: "duplicate member differing in case", ctype: "application/json", body: `{"name":"a","Name":"b"}`, status: 400, detail: "more than once", field: "Name"},
		{name: "duplicate member escaped", ctype: "application/json", body: `{"name":"a","\u006eame":"b"}`, status: 400, detail: "more than once", field: "name"},
		{name: "duplicate nested member", ctype: "application/json", body: `{"inner":{"flag":true,"flag":false}}`, status: 400, detail: "more than once", field: "inner.flag"},
		{name: "duplicate unknown member", ctype: "application/json", body: `{"x":1,"x":2}`, status: 400, detail: "more than once", field: "x"},
		{name: "same name in sibling objects", ctype: "application/json", body: `{"name":"a","inner":{"name":1,"flag":true}}`, status: 400, detail: `unknown field "name"`, field: "name"},
		{name: "same name at two levels", ctype: "application/json", body: `{"inner":{"flag":true},"name":"inner","tags":["name","name"]}`, status: 200},

		{name: "exactly at the limit", ctype: "application/json", body: padded(decodeLimit), status: 200},
		{name: "one byte over the limit", ctype: "application/json", body: padded(decodeLimit + 1), status: 413, detail: "at most 64 bytes"},
		{name: "far over the limit", ctype: "application/json", body: padded(10 * decodeLimit), status: 413, detail: "at most 64 bytes"},
		// The size is checked before the syntax: an oversized body is 413 even if broken.
		{name: "over the limit and malformed", ctype: "application/json", body: strings.Repeat("[", decodeLimit+1), status: 413},

		{name: "no content type", ctype: "", body: `{"name":"a"}`, status: 415, detail: "application/json"},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: `{"name":"a"}`, status: 415},
		{name: "text", ctype: "text/plain", body: `{"name":"a"}`, status: 415},
		{name: "json suffix", ctype: "application/merge-patch+json", body: `{"name":"a"}`, status: 415},
		{name: "lookalike", ctype: "application/jsonx", body: `{"name":"a"}`, status: 415},
		{name: "unparsable content type", ctype: "application/json;;", body: `{"name":"a"}`, status: 415},
	}
	e, _ := newTestEcho(t, Options{})
	e.POST("/decode", func(c echo.Context) error {
		var v decodeTarget
		if err := DecodeJSON(c, &v, decodeLimit); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set(echo.HeaderContentType, tc.ctype)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)

			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("the answer echoes a request value: %s", rec.Body)
			}
			if tc.status == http.StatusOK {
				return
			}
			if got := rec.Header().Get(echo.HeaderContentType); got != mimeProblemJSON {
				t.Errorf("Content-Type = %q", got)
			}
			p := decode[problemBody](t, rec)
			if p.Status != tc.status || !strings.Contains(p.Detail, tc.detail) || p.Field != tc.field {
				t.Errorf("problem = %+v, want detail containing %q and field %q", p, tc.detail, tc.field)
			}
		})
	}
}

func TestDecodeJSON_Decodes(t *testing.T) {
	e := echo.New()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"a","count":2,"tags":["x","y"],"inner":{"flag":true}}`))
	req.Header.Set(echo.HeaderContentType, "application/json")
	var v decodeTarget
	if err := DecodeJSON(e.NewContext(req, httptest.NewRecorder()), &v, decodeLimit); err != nil {
		t.Fatal(err)
	}
	if v.Name != "a" || v.Count != 2 || len(v.Tags) != 2 || v.Tags[1] != "y" || !v.Inner.Flag {
		t.Fatalf("decoded %+v", v)
	}
}

func TestDecodeJSON_ErrorTypes(t *testing.T) {
	// admin maps *FieldError to its own validation error; everything else stays a *Problem.
	e := echo.New()
	run := func(body string) error {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, "application/json")
		var v decodeTarget
		return DecodeJSON(e.NewContext(req, httptest.NewRecorder()), &v, decodeLimit)
	}
	fe, ok := run(`{"nope":1}`).(*FieldError)
	if !ok || fe.Field != "nope" || fe.Reason != "is not a known field" {
		t.Errorf("unknown field: %#v", fe)
	}
	fe, ok = run(`{"tags":[1]}`).(*FieldError)
	if !ok || fe.Field != "tags" || fe.Reason != "must be a string" {
		t.Errorf("wrong element type: %#v", fe)
	}
	if p, ok := run(`[]`).(*Problem); !ok || p.Status != http.StatusBadRequest {
		t.Errorf("array: %#v", p)
	}
}

func TestDuplicateMember(t *testing.T) {
	for _, tc := range []struct {
		body  string
		field string // "" = no duplicate
	}{
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}`, ""},
		{`{"l":[{"a":1},{"a":1,"b":2,"a":3}]}`, "l.a"},
		{`{"l":[[{"x":{"y":1,"y":2}}]]}`, "l.x.y"},
		{`{"a":{},"b":[],"a":null}`, "a"},
		{`{"k":"v","K":"w"}`, "K"},
		{`{"a":1,"a"`, "a"},    // malformed after the duplicate: the duplicate is still named
		{`{"a":1,,"a":2}`, ""}, // malformed before it: left to the decoder
	} {
		err := duplicateMember([]byte(tc.body))
		fe, _ := err.(*FieldError)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v, want none", tc.body, err)
		case tc.field != "" && (fe == nil || fe.Field != tc.field || fe.Reason != reasonDuplicate):
			t.Errorf("%s: %#v, want duplicate %q", tc.body, err, tc.field)
		}
	}
}

func TestDecodeJSONAllowUnknown(t *testing.T) {
	e := echo.New()
	run := func(ctype, body string) (decodeTarget, error) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set(echo.HeaderContentType, ctype)
		}
		var v decodeTarget
		return v, DecodeJSONAllowUnknown(e.NewContext(req, httptest.NewRecorder()), &v, decodeLimit)
	}
	// Unknown members, also nested ones, are skipped; the known ones still decode.
	v, err := run("application/json", `{"name":"a","x":{"y":1},"inner":{"flag":true,"colour":1}}`)
	if err != nil || v.Name != "a" || !v.Inner.Flag {
		t.Fatalf("decoded %+v, %v", v, err)
	}
	// Every other rule of DecodeJSON holds.
	for _, tc := range []struct {
		name, ctype, body string
		status            int
	}{
		{"wrong type", "application/json", `{"name":42}`, 400},
		{"duplicate unknown member", "application/json", `{"x":1,"x":2}`, 400},
		{"trailing data", "application/json", `{"x":1} {}`, 400},
		{"malformed", "application/json", `{"x":1,}`, 400},
		{"not an object", "application/json", `[]`, 400},
		{"too large", "application/json", padded(decodeLimit + 1), 413},
		{"not json", "text/plain", `{}`, 415},
	} {
		_, err := run(tc.ctype, tc.body)
		var (
			fe *FieldError
			p  *Problem
		)
		switch {
		case errors.As(err, &fe):
			if tc.status != 400 {
				t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
			}
		case errors.As(err, &p):
			if p.Status != tc.status {
				t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
			}
		default:
			t.Errorf("%s: %v, want a %d", tc.name, err, tc.status)
		}
	}
}
