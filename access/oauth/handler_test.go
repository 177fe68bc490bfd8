package oauth_test

import (
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access/oauth"
)

// A handler missing a collaborator would silently skip a security behaviour (the
// gate's decision, logout revoking, back-channel logout, the audit trail).
func TestNewHandler_RefusesMissingDependencies(t *testing.T) {
	_, err := oauth.NewHandler(oauth.Handler{})
	if err == nil {
		t.Fatal("NewHandler with nothing succeeded")
	}
	for _, name := range []string{"Provider", "Gate", "Clients", "Keys", "Directory", "Sessions", "Consents", "Browser",
		"Logout", "ConfirmLogout", "SignedOut", "Audit"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name the missing %s: %v", name, err)
		}
	}
}
