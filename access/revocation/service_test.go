package revocation_test

import (
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access/revocation"
)

// A revocation service missing a collaborator would silently skip back-channel logout,
// shared signals, receipts or the audit trail: it must not be built at all.
func TestNewService_RefusesMissingDependencies(t *testing.T) {
	_, err := revocation.NewService(revocation.Deps{})
	if err == nil {
		t.Fatal("NewService with nothing succeeded")
	}
	for _, name := range []string{"Store", "Grants", "Lookup", "Sessions", "Subjects", "Clients", "Tx", "Fanout", "Audit",
		"Outbox", "Participants", "Signals"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name the missing %s: %v", name, err)
		}
	}
	// A typed nil is as missing as an untyped one.
	var f *revocation.Fanout
	if _, err := revocation.NewService(revocation.Deps{Fanout: f}); err == nil || !strings.Contains(err.Error(), "Fanout") {
		t.Fatalf("a typed nil Fanout was accepted: %v", err)
	}
}
