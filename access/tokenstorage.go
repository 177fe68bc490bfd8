package access

import (
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"
)

// TokenStorage is everything fosite needs from storage (access/fositestore implements it).
type TokenStorage interface {
	fosite.Storage
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage
	storage.Transactional
	// ClientAuthentication wraps fosite's client authentication so that the storage's
	// client adapter reports the method the request used (client_secret_basic or
	// client_secret_post); fosite enforces a single method per client otherwise.
	ClientAuthentication(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy
}
