// Package admin serves Weft's administrative REST API under /api/v1: users, groups and
// their members, machine identities and OAuth clients, as JSON.
//
// Every route except the OpenAPI document needs an OAuth 2.0 access token issued by Weft
// itself (RFC 6750 bearer): reads need the scope weft:admin:read or weft:admin, writes
// need weft:admin. A token issued to a person (one with a login session) must also
// belong to a member of identity.AdminGroup, so a scope granted once does not outlive
// the person's removal from the administrators; a client_credentials token is
// authorised by its scopes alone, since the client's registration is what an
// administrator controls.
//
// Handlers are thin: decode and check the request, make one call on identity.Directory
// or access.Clients, and render a JSON view with stable snake_case names. Errors are
// returned to echo's error handler (httpserver), which renders RFC 9457 problem
// details; a *identity.ValidationError is rendered here, with the offending field as
// the extension member "field". The OpenAPI 3 description of the API is embedded
// (openapi.json, also checked in as docs/openapi.json) and served at
// /api/v1/openapi.json; tests keep it in step with the registered routes.
package admin
