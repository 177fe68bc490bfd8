// Package outbox delivers messages to relying parties and receivers (back-channel logout
// tokens, pushed security event tokens) from a persistent outbox: messages are written in
// the transaction of what caused them and delivered afterwards by a Worker on every node,
// with leases so two nodes never deliver one message at once, backoff on failure, holds
// for paused receivers, and an audit entry per attempt. A node restart or a receiver that
// is down loses nothing.
package outbox
