// Package ssfapi serves the SSF transmitter's HTTP endpoints: the transmitter
// configuration (discovery), stream management, status, verification and polling
// (RFC 8936). Receivers authenticate through access/gate with scope weft:ssf; every
// body is decoded strictly (httpserver.DecodeJSON).
package ssfapi
