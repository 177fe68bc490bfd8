package admin

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDoc describes this API (OpenAPI 3.0.3). It is the source; docs/openapi.json is
// a copy for readers of the repository, and a test fails when the two differ or when
// the document and the registered routes disagree.
//
//go:embed openapi.json
var openAPIDoc []byte

const openAPIPath = "/openapi.json"

// openAPI: GET /openapi.json. Public: the document describes the API, it holds no data.
func (h *Handler) openAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
