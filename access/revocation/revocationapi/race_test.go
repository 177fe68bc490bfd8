package revocationapi

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Concurrent "suspend": true requests for one user (a SOAR playbook fired twice, or a
// retry while the first call still runs) all succeed: one suspends and revokes, the
// others revoke again or, with the same Idempotency-Key, replay the winner's record.
// Before the fix some got a 500 (the status had changed under them) or, on PostgreSQL, a
// 409 naming the unique index.
func TestSuspend_Concurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		for _, withKey := range []bool{true, false} {
			for i := 0; i < 5; i++ {
				u := en.user("racer")
				en.session(u, device(byte(50+i)), "web")
				key := ""
				if withKey {
					key = fmt.Sprint("race-", i)
				}
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					ids      = map[string]int{}
					replayed int
				)
				for j := 0; j < 4; j++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rec, again, err := en.revs.Suspend(context.Background(), en.dir, "soar", key, u.ID, "race")
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							t.Errorf("key %v: Suspend: %v", withKey, err)
							return
						}
						ids[rec.ID]++
						if again {
							replayed++
						}
					}()
				}
				wg.Wait()
				if got, err := en.dir.UserByID(context.Background(), u.ID); err != nil || got.Status != "suspended" {
					t.Fatalf("user after the race: %+v, %v", got, err)
				}
				if withKey && (len(ids) != 1 || replayed != 3) {
					t.Fatalf("with one key: records %v, %d replayed; want one record, 3 replays", ids, replayed)
				}
			}
		}
	})
}
