// Package access is Weft's protocol edge: how applications, gateways, administrators
// and security tools reach the identity fabric. This root package holds the domain model
// its subpackages share, and imports nothing that serves HTTP: OAuth clients and the
// rules a client definition must meet (Client, ClientSpec, Clients, ClientCache), the
// gateway routes that lead a host and path prefix to an application (Route, Routes),
// consents, the fosite token session (Session) and the storage fosite needs
// (TokenStorage), the endpoint paths, and the small interfaces every subpackage uses
// (ClientLookup, AuditRecorder, JWTSigner, SessionRevoker).
//
// The subpackages, by concern:
//
//	oauth/          the OAuth 2.0 / OpenID Connect endpoints on fosite
//	gate/           the per-request decision (token, subject, risk, policy) and the one
//	                bearer authenticator of every bearer-protected API
//	revocation/     Revoke(selector, reason), the fan-out to every node, the token cache;
//	                revocationapi/ is its HTTP API for SOAR tools
//	outbox/         the persistent outbox that delivers to relying parties, with retries
//	backchannel/    OIDC Back-Channel Logout messages through the outbox
//	websession/     the browser's session at Weft: cookies and the live login session
//	ssf/            the Shared Signals transmitter; ssfapi/ serves its endpoints
//	gateway/        forward-auth for nginx, Caddy, Traefik and Envoy: the route table,
//	                /gateway/authz and the browser's way back after login
//	admin/          the admin REST API
//	apply/          declarative apply of a fabric file
//	keys/           signing keys, JWKS, the key-encryption key
//	httpserver/     the echo server: logs, metrics, health, errors, JSON bodies, client info
//	throttle/       failed client authentications and logins, counted before the work
//	                (in process, or on Redis for every node)
//	fositestore/, sqlstore/, redisstore/, keys/keysql/   storage adapters
//
// Errors are identity's sentinels (identity.ErrNotFound, ErrConflict, ErrInvalid): one
// table maps them to HTTP statuses for every API.
package access
