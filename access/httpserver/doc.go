// Package httpserver is the HTTP edge shared by every Weft endpoint: one echo
// server with request ids, structured access logs, Prometheus metrics, health
// and readiness probes, security headers, a single RFC 9457 error handler, and
// graceful shutdown.
//
// cmd/weft builds it once with New, lets each area register its routes on the
// returned *echo.Echo, and runs it with Serve. Handlers return errors (domain
// sentinels, *Problem, *FieldError or *echo.HTTPError) and the error handler
// renders them, so no handler writes its own error body. JSON request bodies are
// read with DecodeJSON, so every endpoint holds them to the same rules.
//
// Nothing from a request that may carry a secret (query string, headers,
// cookies, body) is ever logged, and server-side error text never reaches a
// response body: clients see a generic problem and operators find the cause in
// the log under the same request_id.
package httpserver
