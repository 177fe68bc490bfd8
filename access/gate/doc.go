// Package gate is the per-request decision on Weft's hot path: one place where a token
// presented by a gateway (introspection) or by a caller of a bearer-protected API (the
// admin, revocation and SSF APIs, userinfo) becomes an answer with reasons.
//
//	token -> revocation -> subject in good standing -> risk -> policy -> Result
//
// The token lookup reflects revocations at once (the fan-out bus keeps every node's
// token cache honest); the subject check is defence in depth, so that a token whose
// user was suspended is refused even if a revocation was missed; risk (analytics.Scorer)
// and policy (policy.Decider) are interfaces whose first implementations score nothing
// and allow everything, so the adaptive-access work only implements and wires them.
// The decision is recorded off the hot path (analytics.Recorder).
//
// Nothing here touches SQL in the steady state: principals are cached per node and
// dropped by the same fan-out events that drop tokens. The echo-facing part is
// bearer.go (Bearer: RFC 6750 challenges and problem+json); the transport mapping of
// introspection stays in access/oauth, that of forward-auth will be its own package.
package gate
