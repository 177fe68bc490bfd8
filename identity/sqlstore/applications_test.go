package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// countingObserver counts the changes it was told of and can refuse them.
type countingObserver struct {
	n    int
	fail error
}

func (o *countingObserver) ApplicationsChanged(context.Context) error {
	if o.fail != nil {
		return o.fail
	}
	o.n++
	return nil
}

func TestApplications_Lifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		obs := &countingObserver{}
		apps := identity.NewApplications(sqlstore.NewApplications(db), db, obs)

		crm, err := apps.Create(ctx, identity.NewApplication{ID: "crm", Name: "Customer records", Description: "Sales", Sensitive: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := apps.ByID(ctx, "crm")
		if err != nil || got.Name != "Customer records" || got.Description != "Sales" || !got.Sensitive ||
			!got.CreatedAt.Equal(crm.CreatedAt) || got.CreatedAt.IsZero() {
			t.Fatalf("ByID = %+v, %v", got, err)
		}
		if _, err := apps.Create(ctx, identity.NewApplication{ID: "crm", Name: "Again"}); !errors.Is(err, identity.ErrConflict) ||
			!strings.Contains(err.Error(), `"crm"`) {
			t.Fatalf("duplicate id: %v", err)
		}

		// An update that changes nothing writes nothing and tells nobody.
		before := obs.n
		same := "Customer records"
		if _, changed, err := apps.Update(ctx, "crm", identity.ApplicationPatch{Name: &same}); err != nil || changed || obs.n != before {
			t.Fatalf("no-op update: changed %v, err %v, observer %d -> %d", changed, err, before, obs.n)
		}
		off := false
		upd, changed, err := apps.Update(ctx, "crm", identity.ApplicationPatch{Sensitive: &off})
		if err != nil || !changed || upd.Sensitive || obs.n != before+1 {
			t.Fatalf("update = %+v %v %v", upd, changed, err)
		}
		if got, _ := apps.ByID(ctx, "crm"); got.Sensitive || !got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Fatalf("after update: %+v", got)
		}
		if _, _, err := apps.Update(ctx, "nope", identity.ApplicationPatch{Sensitive: &off}); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}

		// Keyset pages, ordered by id.
		for i := range 5 {
			if _, err := apps.Create(ctx, identity.NewApplication{ID: fmt.Sprintf("app-%d", i), Name: "App"}); err != nil {
				t.Fatal(err)
			}
		}
		page, next, err := apps.List(ctx, identity.Page{Limit: 4})
		if err != nil || len(page) != 4 || page[0].ID != "app-0" || next != "app-3" {
			t.Fatalf("first page = %v next %q err %v", appIDs(page), next, err)
		}
		page, next, err = apps.List(ctx, identity.Page{Limit: 4, After: next})
		if err != nil || len(page) != 2 || page[0].ID != "app-4" || page[1].ID != "crm" || next != "" {
			t.Fatalf("second page = %v next %q err %v", appIDs(page), next, err)
		}
		all, err := apps.All(ctx)
		if err != nil || len(all) != 6 {
			t.Fatalf("All = %v, %v", appIDs(all), err)
		}

		if err := apps.Delete(ctx, "crm"); err != nil {
			t.Fatal(err)
		}
		if _, err := apps.ByID(ctx, "crm"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := apps.Delete(ctx, "crm"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func appIDs(apps []identity.Application) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	return out
}

// Bad input gets an error naming the field, and nothing is written.
func TestApplications_Validation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		apps := identity.NewApplications(sqlstore.NewApplications(db), db)
		for _, tc := range []struct {
			name  string
			in    identity.NewApplication
			field string
		}{
			{"empty id", identity.NewApplication{Name: "x"}, "id"},
			{"upper case", identity.NewApplication{ID: "CRM", Name: "x"}, "id"},
			{"space", identity.NewApplication{ID: "my app", Name: "x"}, "id"},
			{"slash", identity.NewApplication{ID: "a/b", Name: "x"}, "id"},
			{"leading dash", identity.NewApplication{ID: "-crm", Name: "x"}, "id"},
			{"trailing dot", identity.NewApplication{ID: "crm.", Name: "x"}, "id"},
			{"too long", identity.NewApplication{ID: strings.Repeat("a", 65), Name: "x"}, "id"},
			{"no name", identity.NewApplication{ID: "crm"}, "name"},
			{"control character in name", identity.NewApplication{ID: "crm", Name: "a\x00b"}, "name"},
			{"long description", identity.NewApplication{ID: "crm", Name: "x", Description: strings.Repeat("d", 1025)}, "description"},
		} {
			_, err := apps.Create(ctx, tc.in)
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("%s: err = %v, want a validation error on %s", tc.name, err, tc.field)
			}
		}
		if rows := sqltest.Snapshot(t, db.SQL(), "applications"); len(rows["applications"]) != 0 {
			t.Fatalf("refused input was written: %v", rows)
		}
		ok := strings.Repeat("a", 64)
		if _, err := apps.Create(ctx, identity.NewApplication{ID: ok, Name: "x"}); err != nil {
			t.Fatalf("a 64-character id: %v", err)
		}
		empty := ""
		if _, _, err := apps.Update(ctx, ok, identity.ApplicationPatch{Name: &empty}); !errors.Is(err, identity.ErrInvalid) {
			t.Fatalf("update to an empty name: %v", err)
		}
	})
}

// An observer's error undoes the change it was told of.
func TestApplications_ObserverErrorRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		obs := &countingObserver{fail: errors.New("route table unavailable")}
		apps := identity.NewApplications(sqlstore.NewApplications(db), db, obs)
		if _, err := apps.Create(ctx, identity.NewApplication{ID: "crm", Name: "CRM"}); err == nil {
			t.Fatal("create succeeded although the observer failed")
		}
		if _, err := apps.ByID(ctx, "crm"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("the refused application was kept: %v", err)
		}
	})
}
