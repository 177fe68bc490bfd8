package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity"
)

// Request limits.
const (
	maxBodyBytes = 1 << 20 // 1 MiB: the largest legitimate body (a client) is a few KiB
	defaultLimit = 100
	maxCursorLen = 1024 // decoded bytes; store cursors are names or ids
)

func invalid(field, reason string) error {
	return &identity.ValidationError{Field: field, Reason: reason}
}

// renameField reports a domain field under its API name (the directory says "owner"
// where the API says "owner_id").
func renameField(err error, from, to string) error {
	var ve *identity.ValidationError
	if errors.As(err, &ve) && ve.Field == from {
		return invalid(to, ve.Reason)
	}
	return err
}

// decode reads a JSON object into v with httpserver.DecodeJSON (application/json
// only, at most 1 MiB, no unknown or repeated fields, nothing after the object). A field to
// blame becomes a *identity.ValidationError, which renderValidation shows like
// every other invalid field of this API; other bad input is a *httpserver.Problem.
func decode(c echo.Context, v any) error {
	err := httpserver.DecodeJSON(c, v, maxBodyBytes)
	var fe *httpserver.FieldError
	if errors.As(err, &fe) {
		return invalid(fe.Field, fe.Reason)
	}
	return err
}

// fieldProblem is an RFC 9457 problem with the extension member "field", naming the
// request field (or query parameter) that broke a rule.
type fieldProblem struct {
	httpserver.Problem
	Field string `json:"field"`
}

// renderValidation renders a *identity.ValidationError as a 400 problem naming the
// field; every other error goes on to the server's error handler.
func renderValidation(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		var ve *identity.ValidationError
		if err == nil || !errors.As(err, &ve) || c.Response().Committed {
			return err
		}
		p := fieldProblem{Field: ve.Field, Problem: httpserver.Problem{Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: ve.Error(), RequestID: httpserver.RequestID(c.Request().Context())}}
		body, _ := json.Marshal(p) // strings and an int: cannot fail
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.Blob(http.StatusBadRequest, "application/problem+json", body)
	}
}

// pageFrom reads ?limit= and ?after=.
func pageFrom(c echo.Context) (identity.Page, error) {
	p := identity.Page{Limit: defaultLimit}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > identity.MaxPageSize {
			return p, invalid("limit", fmt.Sprintf("must be an integer from 1 to %d", identity.MaxPageSize))
		}
		p.Limit = n
	}
	if s := c.QueryParam("after"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 || len(b) > maxCursorLen {
			return p, invalid("after", "must be the next cursor of a previous page")
		}
		p.After = string(b)
	}
	return p, nil
}

// cursor makes a store's cursor (a name or an id) opaque and URL-safe, so that
// clients pass it back rather than build one.
func cursor(storeCursor string) string {
	if storeCursor == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(storeCursor))
}

// list is the body of every list endpoint.
type list[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the following page (?after=), empty on the last page.
	Next string `json:"next"`
}

func listOf[S, T any](xs []S, view func(S) T, next string) list[T] {
	out := list[T]{Items: make([]T, 0, len(xs)), Next: cursor(next)}
	for _, x := range xs {
		out.Items = append(out.Items, view(x))
	}
	return out
}

// pageSlice pages a complete list in memory, for the lists whose store call has no
// pagination yet (a group's members, a user's groups). key must order xs the way the
// store orders it; the cursor is the key of the page's last item, as in the stores.
func pageSlice[S any](xs []S, key func(S) string, p identity.Page) ([]S, string) {
	slices.SortStableFunc(xs, func(a, b S) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if p.After != "" {
		start, _ = slices.BinarySearchFunc(xs, p.After, func(x S, after string) int {
			if key(x) <= after {
				return -1
			}
			return 1
		})
	}
	xs = xs[start:]
	if len(xs) <= p.Limit {
		return xs, ""
	}
	xs = xs[:p.Limit]
	return xs, key(xs[len(xs)-1])
}

// nameKey orders users, groups and machine identities as the stores do.
func nameKey(name string) string {
	if k, err := identity.NormalizeUsername(name); err == nil {
		return k
	}
	return name
}

// created answers 201 with the new resource and its Location.
func created(c echo.Context, collection, id string, body any) error {
	c.Response().Header().Set(echo.HeaderLocation, Prefix+collection+"/"+url.PathEscape(id))
	return c.JSON(http.StatusCreated, body)
}

// notFoundOrInvalid: a lookup by name that finds nothing, or a name that could never
// exist; either way a name filter matches nothing.
func notFoundOrInvalid(err error) bool {
	return errors.Is(err, identity.ErrNotFound) || errors.Is(err, identity.ErrInvalid)
}

// missing restates a store's not-found as the API's own words: the store's error may
// carry driver text that says nothing useful to a caller.
func missing(err error, what string) error {
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, identity.ErrNotFound)
	}
	return err
}
