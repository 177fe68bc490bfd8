package access

import (
	"context"
	"time"
)

// Consent is what a user allowed a client: remembered so the consent page is shown only
// when a client asks for more than it was given. Withdrawing it (DeleteConsent) brings
// the page back.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Covers reports whether the consent includes every scope in want.
func (c Consent) Covers(want []string) bool {
	have := make(map[string]bool, len(c.Scopes))
	for _, s := range c.Scopes {
		have[s] = true
	}
	for _, s := range want {
		if !have[s] {
			return false
		}
	}
	return true
}

// ConsentStore persists consents. Errors use the identity sentinels.
type ConsentStore interface {
	// Consent returns identity.ErrNotFound when the user never consented to the client.
	Consent(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent creates or replaces the consent.
	SaveConsent(ctx context.Context, c Consent) error
	// DeleteConsent withdraws it; idempotent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}
