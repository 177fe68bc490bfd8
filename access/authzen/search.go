package authzen

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/policy"
)

// actionSearchRequest is the Action Search request (section 8.6.1).
type actionSearchRequest struct {
	Subject  *entity        `json:"subject"`
	Resource *entity        `json:"resource"`
	Context  map[string]any `json:"context"`
	Page     *pageRequest   `json:"page"`
}

// pageRequest is a paginated request's page object (section 8.2.1). Its properties
// member (implementation-specific sorting and filtering) is not supported and ignored.
type pageRequest struct {
	Token string `json:"token"`
	Limit *int   `json:"limit"`
}

// searchResponse is the Search API response (section 8.3), page first as recommended.
type searchResponse struct {
	Page    *pageResponse `json:"page,omitempty"`
	Results []actionName  `json:"results"`
}

type actionName struct {
	Name string `json:"name"`
}

// pageResponse is section 8.2.2's page object.
type pageResponse struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
	Total     int    `json:"total"`
}

// searchAction serves the Action Search API (section 8.6): every action the policy
// knows is evaluated for the subject, resource and context, and the permitted ones are
// the results. That is exactly what section 8.1 asks (each result, evaluated, is a
// permit), not an approximation. Without an ActionLister the API is not offered.
func (h *Handler) searchAction(c echo.Context) error {
	if h.Actions == nil {
		return notOffered("action")(c)
	}
	if err := h.authenticate(c); err != nil {
		return err
	}
	var in actionSearchRequest
	if err := httpserver.DecodeJSONAllowUnknown(c, &in, h.MaxBody); err != nil {
		return err
	}
	sub, err := in.Subject.toPolicy("subject", "")
	if err != nil {
		return badRequest(err)
	}
	res, err := in.Resource.toPolicy("resource", "")
	if err != nil {
		return badRequest(err)
	}
	var page pageRequest
	if in.Page != nil {
		page = *in.Page
	}
	if page.Limit != nil && *page.Limit < 0 {
		return badRequest(invalid("page.limit must be a non-negative integer"))
	}
	offset := 0
	if page.Token != "" {
		if offset, err = readToken(page.Token, in.fingerprint()); err != nil {
			return badRequest(err)
		}
	}

	// Sorted and without repeats, so that pages split one stable list.
	names := slices.Clone(h.Actions.Actions(c.Request().Context()))
	slices.Sort(names)
	names = slices.Compact(names)
	permitted := []actionName{}
	for _, name := range names {
		if name == "" {
			continue
		}
		d, err := h.Evaluator.Evaluate(c.Request().Context(), policy.Query{Subject: sub, Action: name, Resource: res, Context: in.Context})
		if err != nil {
			// A partial list would claim the rest is forbidden: no answer instead.
			return fmt.Errorf("authzen: evaluate action %q: %w", name, err)
		}
		if render(d).Decision {
			permitted = append(permitted, actionName{Name: name})
		}
	}
	if page.Limit == nil && page.Token == "" {
		return reply(c, searchResponse{Results: permitted})
	}
	// Pagination (section 8.2): a page of at most limit results, and a next_token
	// unless this page reaches the end (then next_token is empty). A limit of 0 is
	// taken at its word: no results, the count and total, and a token for the start.
	total := len(permitted)
	start := min(offset, total)
	end := total
	if page.Limit != nil {
		end = min(start+*page.Limit, total)
	}
	out := searchResponse{Results: permitted[start:end], Page: &pageResponse{Count: end - start, Total: total}}
	if end < total {
		out.Page.NextToken = makeToken(end, in.fingerprint())
	}
	return reply(c, out)
}

// fingerprint identifies a search apart from its page token: section 8.2 requires
// every other member to stay identical across pages and says the PDP SHOULD refuse a
// change. encoding/json writes map keys sorted, so equal requests print alike.
func (r actionSearchRequest) fingerprint() string {
	var limit *int
	if r.Page != nil {
		limit = r.Page.Limit
	}
	b, _ := json.Marshal(struct { // maps and strings of decoded JSON: cannot fail
		S *entity        `json:"s"`
		R *entity        `json:"r"`
		C map[string]any `json:"c"`
		L *int           `json:"l"`
	}{r.Subject, r.Resource, r.Context, limit})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// makeToken is the opaque next_token: where the next page starts, bound to the
// request it belongs to. It holds nothing secret; a forged one only moves the start.
func makeToken(offset int, fingerprint string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + "." + fingerprint))
}

// readToken reads a token makeToken made for the same request.
func readToken(token, fingerprint string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, invalid("page.token is not a token this PDP issued")
	}
	off, fp, ok := strings.Cut(string(b), ".")
	n, err := strconv.Atoi(off)
	if !ok || err != nil || n < 0 {
		return 0, invalid("page.token is not a token this PDP issued")
	}
	if fp != fingerprint {
		return 0, invalid("page.token belongs to another request: every member but page.token must stay as in the first request (section 8.2)")
	}
	return n, nil
}
