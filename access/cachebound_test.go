package access_test

import (
	"testing"

	"github.com/weft-fabric/weft/access"
)

func TestMakeRoom(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, max  int
		disposable func(int) bool
		wantLen    int
		// sweep: every disposable entry must be gone
		sweep bool
	}{
		{"below the bound nothing goes", 99, 100, func(int) bool { return true }, 99, false},
		{"disposable entries go first", 100, 100, func(v int) bool { return v%2 == 0 }, 50, true},
		{"else a sixteenth goes, not all", 100, 100, func(int) bool { return false }, 93, false},
		{"a bound below sixteen still frees one", 10, 10, func(int) bool { return false }, 9, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[int]int{}
			for i := range tc.size {
				m[i] = i
			}
			access.MakeRoom(m, tc.max, tc.disposable)
			if len(m) != tc.wantLen {
				t.Fatalf("len = %d, want %d", len(m), tc.wantLen)
			}
			if tc.sweep {
				for k := range m {
					if tc.disposable(k) {
						t.Fatalf("disposable entry %d kept", k)
					}
				}
			}
		})
	}
}
