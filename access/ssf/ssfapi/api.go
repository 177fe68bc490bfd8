package ssfapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/identity"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
)

// Handler serves SSF discovery, stream management and polling.
type Handler struct {
	Transmitter *ssf.Transmitter
	// Gate authenticates receivers' bearer tokens (scope weft:ssf); Admins decides
	// whether a person's token may manage streams (identity.Directory).
	Gate   *gate.Gate
	Admins gate.Admins
}

// Register mounts the routes.
func (h *Handler) Register(e *echo.Echo) {
	e.GET(ssf.PathConfiguration, h.configuration)
	e.POST(ssf.PathStream, h.create)
	e.GET(ssf.PathStream, h.read)
	e.PATCH(ssf.PathStream, h.update)
	e.PUT(ssf.PathStream, h.replace)
	e.DELETE(ssf.PathStream, h.delete)
	e.GET(ssf.PathStatus, h.status)
	e.POST(ssf.PathStatus, h.setStatus)
	e.POST(ssf.PathVerify, h.verify)
	e.POST(ssf.PathPoll+":id", h.poll)
	// The colon of "subjects:add" is literal, not an echo path parameter.
	e.POST(escapeColons(ssf.PathAddSubject), h.addSubject)
	e.POST(escapeColons(ssf.PathRemoveSubject), h.removeSubject)
}

func escapeColons(path string) string { return strings.ReplaceAll(path, ":", "\\:") }

type authScheme struct {
	SpecURN string `json:"spec_urn"`
}

// configuration is the Transmitter Configuration Metadata (SSF 1.0 section 7.1).
type configuration struct {
	SpecVersion              string       `json:"spec_version"`
	Issuer                   string       `json:"issuer"`
	JWKSURI                  string       `json:"jwks_uri"`
	DeliveryMethodsSupported []string     `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string       `json:"configuration_endpoint"`
	StatusEndpoint           string       `json:"status_endpoint"`
	VerificationEndpoint     string       `json:"verification_endpoint"`
	AuthorizationSchemes     []authScheme `json:"authorization_schemes"`
	AddSubjectEndpoint       string       `json:"add_subject_endpoint"`
	RemoveSubjectEndpoint    string       `json:"remove_subject_endpoint"`
	// DefaultSubjects is what a new stream gets: NONE, events only about the subjects
	// the receiver adds. A receiver may ask for ALL per stream (default_subjects in the
	// stream configuration, a Weft extension).
	DefaultSubjects string `json:"default_subjects"`
}

func (h *Handler) configuration(c echo.Context) error {
	iss := h.Transmitter.Issuer
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, configuration{
		SpecVersion: ssf.SpecVersion, Issuer: iss, JWKSURI: iss + access.PathJWKS,
		DeliveryMethodsSupported: []string{ssf.MethodPush, ssf.MethodPoll},
		ConfigurationEndpoint:    iss + ssf.PathStream, StatusEndpoint: iss + ssf.PathStatus, VerificationEndpoint: iss + ssf.PathVerify,
		AuthorizationSchemes: []authScheme{{SpecURN: "urn:ietf:rfc:6749"}}, DefaultSubjects: ssf.SubjectsNone,
		AddSubjectEndpoint: iss + ssf.PathAddSubject, RemoveSubjectEndpoint: iss + ssf.PathRemoveSubject,
	})
}

type deliveryView struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url"`
}

type streamView struct {
	StreamID        string       `json:"stream_id"`
	Iss             string       `json:"iss"`
	Aud             string       `json:"aud"`
	Delivery        deliveryView `json:"delivery"`
	EventsSupported []string     `json:"events_supported"`
	EventsRequested []string     `json:"events_requested"`
	EventsDelivered []string     `json:"events_delivered"`
	Description     string       `json:"description,omitempty"`
	DefaultSubjects string       `json:"default_subjects"`
}

func (h *Handler) view(s ssf.Stream) streamView {
	return streamView{StreamID: s.ID, Iss: h.Transmitter.Issuer, Aud: s.ClientID,
		Delivery:        deliveryView{Method: s.Method, EndpointURL: h.Transmitter.Target(s)},
		EventsSupported: ssf.Supported, EventsRequested: s.EventsRequested, EventsDelivered: s.Delivered(), Description: s.Description,
		DefaultSubjects: s.DefaultSubjects}
}

type statusView struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// maxBodyBytes bounds every request body: a stream configuration or a poll with its
// acknowledgements is a few KiB.
const maxBodyBytes = 64 << 10

var errNoStream = &httpserver.Problem{Status: http.StatusNotFound, Title: "Not found", Detail: "No such stream."}

// answer maps a missing (or another client's) stream to one 404 that does not say
// which, and passes other errors to the server's error handler.
func answer(err error) error {
	if errors.Is(err, identity.ErrNotFound) {
		return errNoStream
	}
	return err
}

func (h *Handler) caller(c echo.Context) (string, error) {
	cl, err := h.Gate.Operator(c, h.Admins, "ssf", ssf.Scope)
	return cl.ClientID, err
}

func (h *Handler) create(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in ssf.StreamConfig
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	s, err := h.Transmitter.CreateStream(c.Request().Context(), client, in)
	if err != nil {
		return answer(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, h.view(s))
}

func (h *Handler) read(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	if id := c.QueryParam("stream_id"); id != "" {
		s, err := h.Transmitter.Streams.Stream(ctx, client, id)
		if err != nil {
			return answer(err)
		}
		return c.JSON(http.StatusOK, h.view(s))
	}
	all, err := h.Transmitter.Streams.Streams(ctx, client)
	if err != nil {
		return err
	}
	out := make([]streamView, 0, len(all))
	for _, s := range all {
		out = append(out, h.view(s))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) update(c echo.Context) error  { return h.change(c, false) }
func (h *Handler) replace(c echo.Context) error { return h.change(c, true) }

func (h *Handler) change(c echo.Context, replace bool) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in ssf.StreamConfig
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	s, err := h.Transmitter.UpdateStream(c.Request().Context(), client, in, replace)
	if err != nil {
		return answer(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, h.view(s))
}

func (h *Handler) delete(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	id := c.QueryParam("stream_id")
	if id == "" {
		return invalid("stream_id", "is required")
	}
	if err := h.Transmitter.DeleteStream(c.Request().Context(), client, id); err != nil {
		return answer(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) status(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	id := c.QueryParam("stream_id")
	if id == "" {
		return invalid("stream_id", "is required")
	}
	s, err := h.Transmitter.Streams.Stream(c.Request().Context(), client, id)
	if err != nil {
		return answer(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, statusView{StreamID: s.ID, Status: s.Status, Reason: s.StatusReason})
}

func (h *Handler) setStatus(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in struct {
		StreamID string `json:"stream_id"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
	}
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	if in.StreamID == "" {
		return invalid("stream_id", "is required")
	}
	s, err := h.Transmitter.SetStatus(c.Request().Context(), client, in.StreamID, in.Status, in.Reason)
	if err != nil {
		return answer(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, statusView{StreamID: s.ID, Status: s.Status, Reason: s.StatusReason})
}

func (h *Handler) verify(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	if in.StreamID == "" {
		return invalid("stream_id", "is required")
	}
	if err := h.Transmitter.Verify(c.Request().Context(), client, in.StreamID, in.State); err != nil {
		var limited *ssf.RateLimitError
		if errors.As(err, &limited) {
			c.Response().Header().Set("Retry-After", strconv.Itoa(limited.RetryAfterSeconds()))
			return &httpserver.Problem{Status: http.StatusTooManyRequests, Title: "Too many requests",
				Detail: "Verification requests for this stream are limited (SSF 1.0 section 8.1.4); retry after the time in Retry-After."}
		}
		return answer(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// subjectRequest is an add or remove subject request (SSF 1.0 sections 8.1.3.2 and
// 8.1.3.3). verified is accepted and ignored: Weft sends events about its own users.
type subjectRequest struct {
	StreamID string          `json:"stream_id"`
	Subject  json.RawMessage `json:"subject"`
	Verified *bool           `json:"verified,omitempty"`
}

func (h *Handler) subjectCall(c echo.Context, fn func(ctx context.Context, client, id string, subject json.RawMessage) error) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in subjectRequest
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	if in.StreamID == "" {
		return invalid("stream_id", "is required")
	}
	return answer(fn(c.Request().Context(), client, in.StreamID, in.Subject))
}

// addSubject answers an empty 200, as SSF 1.0 section 8.1.3.2 says.
func (h *Handler) addSubject(c echo.Context) error {
	if err := h.subjectCall(c, h.Transmitter.AddSubject); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

// removeSubject answers 204, as SSF 1.0 section 8.1.3.3 says.
func (h *Handler) removeSubject(c echo.Context) error {
	if err := h.subjectCall(c, h.Transmitter.RemoveSubject); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) poll(c echo.Context) error {
	client, err := h.caller(c)
	if err != nil {
		return err
	}
	var in ssf.PollRequest
	if err := httpserver.DecodeJSON(c, &in, maxBodyBytes); err != nil {
		return err
	}
	resp, err := h.Transmitter.Poll(c.Request().Context(), client, c.Param("id"), in)
	if err != nil {
		return answer(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, resp)
}

func invalid(field, reason string) error {
	return &identity.ValidationError{Field: field, Reason: reason}
}
