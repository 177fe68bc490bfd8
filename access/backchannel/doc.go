// Package backchannel implements OpenID Connect Back-Channel Logout 1.0: Enqueue writes
// a logout message for every client of an ended login session that registered a
// backchannel_logout_uri (in the caller's transaction, through the outbox), and Sender
// signs the logout token and posts it when the outbox delivers it.
package backchannel
