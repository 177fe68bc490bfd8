package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/weft-fabric/weft/identity"
)

// machineWatcher is an account observer that also observes machine identities.
type machineWatcher struct {
	heard []string
	fail  error
}

func (*machineWatcher) StatusChanged(context.Context, identity.User, identity.Status) error {
	return nil
}
func (*machineWatcher) PasswordChanged(context.Context, identity.User) error { return nil }
func (w *machineWatcher) MachineStatusChanged(_ context.Context, m identity.MachineIdentity, from identity.Status) error {
	w.heard = append(w.heard, string(from)+"->"+string(m.Status))
	return w.fail
}

func TestDirectory_SetMachineStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w := &machineWatcher{}
		dir := identity.NewDirectory(e.store, e.db, e.hasher, w)
		owner := e.mustUser(t, identity.NewUser{Username: "owner"})
		m, err := dir.CreateMachine(ctx, identity.NewMachine{Name: "ci-runner", OwnerID: owner.ID})
		if err != nil || m.Status != identity.StatusActive {
			t.Fatalf("create = %+v, %v; want active", m, err)
		}
		if m, changed, err := dir.SetMachineStatus(ctx, m.ID, identity.StatusDisabled); err != nil || !changed || m.Status != identity.StatusDisabled {
			t.Fatalf("disable = %+v, %v, %v", m, changed, err)
		}
		if _, changed, err := dir.SetMachineStatus(ctx, m.ID, identity.StatusDisabled); err != nil || changed {
			t.Fatalf("disable again = %v, %v; want no change", changed, err)
		}
		// A description change keeps the status.
		if got, _, err := dir.UpdateMachine(ctx, m.ID, "builds", owner.ID); err != nil || got.Status != identity.StatusDisabled {
			t.Fatalf("update = %+v, %v", got, err)
		}
		if _, _, err := dir.SetMachineStatus(ctx, m.ID, identity.StatusActive); err != nil {
			t.Fatal(err)
		}
		if len(w.heard) != 2 || w.heard[0] != "active->disabled" || w.heard[1] != "disabled->active" {
			t.Fatalf("observer heard %v", w.heard)
		}

		// Bad input changes nothing.
		for _, st := range []identity.Status{identity.StatusSuspended, identity.StatusDeprovisioned, "paused"} {
			if _, _, err := dir.SetMachineStatus(ctx, m.ID, st); !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("status %q = %v; want ErrInvalid", st, err)
			}
		}
		if _, _, err := dir.SetMachineStatus(ctx, "no-such-id", identity.StatusDisabled); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("unknown machine = %v; want ErrNotFound", err)
		}
		if _, err := dir.CreateMachine(ctx, identity.NewMachine{Name: "other", OwnerID: owner.ID, Status: "suspended"}); !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("create suspended = %v; want ErrInvalid", err)
		}
		// An observer that fails (the revocation could not be made) undoes the change.
		w.fail = errors.New("revocation store down")
		if _, _, err := dir.SetMachineStatus(ctx, m.ID, identity.StatusDisabled); err == nil {
			t.Fatal("disable with a failing observer succeeded")
		}
		if got, _ := dir.MachineByID(ctx, m.ID); got.Status != identity.StatusActive {
			t.Fatalf("status after a failed disable = %q", got.Status)
		}
	})
}
