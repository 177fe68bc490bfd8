package oauth

import "github.com/labstack/echo/v4"

// revoke is RFC 7009 token revocation.
func (h *Handler) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	err := h.Provider.NewRevocationRequest(ctx, c.Request())
	if busy(c, err) {
		return nil
	}
	if err != nil {
		h.logFailure(ctx, "revocation refused", err)
		basicChallenge(c, err)
	}
	h.Provider.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}
