// Package oauth serves the OAuth 2.0 and OpenID Connect endpoints on fosite:
// discovery and JWKS, authorization (with Weft's own exact redirect URI match and PKCE
// S256 for every client), token (code, refresh with rotation and reuse detection,
// client_credentials), introspection (RFC 7662), revocation (RFC 7009), userinfo and
// RP-initiated logout. fosite endpoints delegate completely and fosite writes the
// RFC-shaped answers; Weft's decisions (is the subject still active, does the policy
// allow it) come from access/gate, so introspection and userinfo answer what every other
// bearer-protected API answers.
//
// Provider composes fosite with Weft's security defaults; Handler is built with
// NewHandler, which refuses a missing dependency rather than silently skipping a
// security behaviour (logout revoking, back-channel logout, the audit trail).
package oauth
