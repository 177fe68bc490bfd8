package oauth

import "github.com/labstack/echo/v4"

// revoke is RFC 7009 token revocation.
func (h *Handler) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	actx, att := withAttempt(c)
	err := h.Provider.NewRevocationRequest(actx, c.Request())
	err = att.explain(err)
	if busy(c, err) || h.throttled(c, att, err) {
		return nil
	}
	if err != nil {
		h.logFailure(ctx, "revocation refused", err)
		basicChallenge(c, err)
	}
	h.Provider.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}
