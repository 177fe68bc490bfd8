// Package outbox delivers messages to relying parties and receivers (back-channel logout
// tokens, pushed security event tokens) from a persistent outbox: messages are written in
// the transaction of what caused them and delivered afterwards by a Worker on every node.
// The worker is woken when a message commits (Signal) and otherwise sleeps until the next
// one falls due, polling only as a fallback. It delivers concurrently, bounded overall
// and per target (the receiving client), each attempt with a short timeout, with leases
// so two nodes never deliver one message at once, backoff per target, holds for paused
// receivers, and a limit after which a message is given up and its target flagged. Only
// final outcomes are audited. A node restart or a receiver that is down loses nothing.
package outbox
