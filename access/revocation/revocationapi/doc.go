// Package revocationapi serves the revocation API for SOAR tools: POST
// /api/v1/revocations (with Idempotency-Key) and GET /api/v1/revocations/{id}, the
// receipt that says where a revocation landed (nodes, back-channel logout, SSF). Callers
// authenticate through access/gate with scope weft:revoke.
package revocationapi
