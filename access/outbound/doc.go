// Package outbound is the one HTTP client Weft uses to call out to addresses that
// others chose: SSF push endpoints (chosen by receivers), OIDC back-channel logout URIs
// (chosen by whoever registers a client) and every later webhook. Such a URL is a
// server-side request forgery vector: without checks, a receiver makes Weft POST, with
// a header of its choosing, to the pod's loopback admin ports, the cloud metadata
// service or any internal host.
//
// The rules, applied twice:
//
//   - at registration (Guard.CheckURL): the URL must be https (http only on a loopback
//     host while loopback is allowed), without user information or fragment, and its
//     host must resolve, through an injectable resolver, only to addresses Weft may
//     reach;
//   - at connect time (Guard.Client): the dialer resolves the host itself, checks every
//     address, dials the exact address it checked, and a net.Dialer Control hook checks
//     the socket's address once more right before connect(2). A DNS answer that changes
//     between registration and delivery (rebinding) therefore meets the same check.
//
// Refused address classes (CheckAddr): unspecified, loopback, RFC 1918 private and IPv6
// ULA, link-local (which holds the cloud metadata address 169.254.169.254), multicast,
// carrier-grade NAT 100.64.0.0/10, the IETF special-purpose, benchmarking, reserved and
// documentation ranges, and IPv6 forms that embed one of these (IPv4-mapped, NAT64,
// 6to4). An operator's allowlist (Policy.Allow prefixes, Policy.AllowHosts names)
// overrides the refusal; loopback is allowed only with Policy.Loopback, which Weft sets
// while its own issuer is on loopback (a laptop set-up) or when the operator says so.
//
// The client follows no redirects (a redirect would carry the token, and a receiver's
// authorization header, elsewhere), uses no proxy from the environment, bounds the
// connect, TLS handshake and whole exchange in time, and the response body in size.
// Its errors name the URL without query or user information (Redact), since receivers
// sometimes put a secret there and errors reach logs, receipts and the audit log.
package outbound
