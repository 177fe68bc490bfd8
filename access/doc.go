// Package access is Weft's protocol edge: OAuth 2.0 and OpenID Connect on fosite,
// introspection, revocation and the admin API. So far it holds the OAuth client
// registry (Client, the rules a client definition must meet, and the ClientStore it
// consumes); the fosite composition builds on it.
package access
