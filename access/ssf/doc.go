// Package ssf is Weft's Shared Signals Framework 1.0 transmitter: receivers (OAuth
// clients with scope weft:ssf) create event streams, and Weft sends them Security Event
// Tokens (RFC 8417) about its subjects: CAEP session-revoked and credential-change,
// RISC account-disabled and account-enabled, and the SSF control events. Delivery is by
// push (RFC 8935) through the persistent outbox of package access, or by poll
// (RFC 8936) from the same outbox rows, so an event is written in the transaction of the
// change that causes it and survives restarts and receivers that are down.
//
// Streams default to every subject (SSF default_subjects ALL): Weft is the identity
// provider of its receivers, which relate to all of its users.
package ssf
