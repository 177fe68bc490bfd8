package policy_test

import (
	"strings"
	"testing"

	"github.com/weft-fabric/weft/policy"
)

func TestDiff(t *testing.T) {
	lines := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if c, ok := change[i]; ok {
				if c != "" {
					b.WriteString(c + "\n")
				}
				continue
			}
			b.WriteString("line " + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + "\n")
		}
		return b.String()
	}
	from := policy.Version{Number: 3, Policies: lines(20, nil)}
	to := policy.Version{Number: 4, Policies: lines(20, map[int]string{2: "changed two", 17: ""})}
	got := policy.Diff(from, to)
	want := `--- v3/policies
+++ v4/policies
@@ -1,5 +1,5 @@
 line xb
-line xxc
+changed two
 line d
 line xe
 line xxf
@@ -14,7 +14,6 @@
 line xxo
 line p
 line xq
-line xxr
 line s
 line xt
 line xxu
`
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := policy.Diff(from, from); d != "" {
		t.Fatalf("diff of a version with itself: %q", d)
	}
}

func TestDiff_SchemaAndTests(t *testing.T) {
	a := policy.Default()
	b := a
	b.Number = 1
	b.Schema = policy.WeftSchema
	b.Tests = a.Tests[1:]
	d := policy.Diff(a, b)
	for _, want := range []string{"--- v0/schema\n+++ v1/schema\n@@ -0,0 +1,", "--- v0/tests\n+++ v1/tests\n", `-    "name": "no risk, ordinary application: allowed",`} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "v0/policies") {
		t.Errorf("unchanged policies shown:\n%s", d)
	}
}

func TestDiff_WhollyDifferent(t *testing.T) {
	d := policy.Diff(policy.Version{Policies: "a\nb\n"}, policy.Version{Number: 1, Policies: "c\n"})
	want := "--- v0/policies\n+++ v1/policies\n@@ -1,2 +1 @@\n-a\n-b\n+c\n"
	if d != want {
		t.Fatalf("got %q, want %q", d, want)
	}
}

// Texts too far apart for the edit script are shown as wholly replaced.
func TestDiff_BeyondTheEditBound(t *testing.T) {
	var a, b strings.Builder
	for i := range 1500 {
		a.WriteString("old " + strings.Repeat("a", i%7) + "\n")
		b.WriteString("new " + strings.Repeat("b", i%7) + "\n")
	}
	d := policy.Diff(policy.Version{Policies: a.String()}, policy.Version{Number: 1, Policies: b.String()})
	if got := strings.Count(d, "\n-old "); got != 1500 {
		t.Fatalf("%d removed lines, want 1500", got)
	}
	if got := strings.Count(d, "\n+new "); got != 1500 {
		t.Fatalf("%d added lines, want 1500", got)
	}
}
