package oauth

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
)

// discoveryDoc is the OpenID Provider Metadata (OIDC Discovery 1.0, RFC 8414). It
// advertises only what Weft enforces: the code flow, PKCE with S256, ES256 ID tokens.
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	// OIDC Back-Channel Logout 1.0 section 2.1: relying parties (mod_auth_openidc among
	// them) read these to decide whether to register a backchannel_logout_uri. Weft's
	// logout tokens carry sid, as its ID tokens do.
	BackchannelLogoutSupported        bool `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool `json:"backchannel_logout_session_supported"`
	// RFC 9207: authorization responses carry iss (mix-up defence).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

func (h *Handler) discovery(c echo.Context) error {
	iss := h.Provider.Issuer()
	authMethods := []string{"client_secret_basic", "client_secret_post"}
	doc := discoveryDoc{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + access.PathAuthorize,
		TokenEndpoint:                              iss + access.PathToken,
		UserinfoEndpoint:                           iss + access.PathUserinfo,
		JWKSURI:                                    iss + access.PathJWKS,
		IntrospectionEndpoint:                      iss + access.PathIntrospect,
		RevocationEndpoint:                         iss + access.PathRevoke,
		EndSessionEndpoint:                         iss + access.PathLogout,
		ScopesSupported:                            []string{"openid", "profile", "email", "groups", "offline_access"},
		ClaimsSupported:                            []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "acr", "amr", "name", "preferred_username", "email", "groups"},
		GrantTypesSupported:                        []string{access.GrantAuthorizationCode, access.GrantRefreshToken, access.GrantClientCredentials},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "form_post"},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{"ES256", "RS256"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          append(append([]string{}, authMethods...), access.AuthPrivateKeyJWT, "none"),
		TokenEndpointAuthSigningAlgs:               []string{"ES256", "ES384", "RS256", "PS256"},
		IntrospectionAuthMethodsSupported:          []string{"client_secret_basic"},
		RevocationAuthMethodsSupported:             append(append([]string{}, authMethods...), "none"),
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		AuthorizationResponseIssParameterSupported: true,
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, doc)
}

func (h *Handler) jwks(c echo.Context) error {
	b, err := h.Keys.JWKSJSON(c.Request().Context())
	if err != nil {
		return err
	}
	// Short enough that a key published as "next" reaches relying parties long before
	// it signs (see access/keys).
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", b)
}
