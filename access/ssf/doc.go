// Package ssf is Weft's Shared Signals Framework 1.0 transmitter: receivers (OAuth
// clients with scope weft:ssf) create event streams, and Weft sends them Security Event
// Tokens (RFC 8417) about its subjects: CAEP session-revoked and credential-change,
// RISC account-disabled and account-enabled, and the SSF control events. Delivery is by
// push (RFC 8935) through the persistent outbox of package access, or by poll
// (RFC 8936) from the same outbox rows, so an event is written in the transaction of the
// change that causes it and survives restarts and receivers that are down.
//
// Receivers see only what they may (issue 9, L7): a new stream has default subjects
// NONE and receives events only about the users its receiver added (SSF 1.0 add and
// remove subject); a receiver may ask for ALL per stream, and streams from before
// migration 00018 keep ALL. Free-text reasons (CAEP reason_admin) go only to receivers
// the operator trusts (Transmitter.ReasonReceivers). A push stream's authorization
// header is stored encrypted under the key-encryption key (Transmitter.Secrets).
package ssf
