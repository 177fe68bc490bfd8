package policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Diff shows what changes from one version to another as unified line diffs of the
// policies, then of the schema and of the test cases (one JSON case per block) when
// those differ. It is empty when nothing differs.
func Diff(from, to Version) string {
	var b strings.Builder
	section := func(part, x, y string) {
		b.WriteString(unifiedDiff(fmt.Sprintf("v%d/%s", from.Number, part), fmt.Sprintf("v%d/%s", to.Number, part), x, y))
	}
	section(SourcePolicies, from.Policies, to.Policies)
	section(SourceSchema, from.Schema, to.Schema)
	section(SourceTests, testsText(from.Tests), testsText(to.Tests))
	return b.String()
}

func testsText(cases []TestCase) string {
	if len(cases) == 0 {
		return ""
	}
	b, _ := json.MarshalIndent(cases, "", "  ") // plain data: cannot fail
	return string(b) + "\n"
}

// diffContext is how many unchanged lines surround a change.
const diffContext = 3

// maxEditDistance bounds the diff's work: texts further apart than this many line
// edits are shown as wholly replaced.
const maxEditDistance = 2000

type lineOp struct {
	kind byte // ' ', '-' or '+'
	text string
}

// unifiedDiff is the unified diff of two texts ("" when equal).
func unifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from diffContext lines before this change to diffContext lines after
		// the last change that is no more than 2*diffContext unchanged lines further.
		start := max(0, i-diffContext)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j + 1
				continue
			}
			if j-end >= 2*diffContext {
				break
			}
		}
		end = min(len(ops), end+diffContext)
		lineA, lineB := 1, 1
		for _, op := range ops[:start] {
			if op.kind != '+' {
				lineA++
			}
			if op.kind != '-' {
				lineB++
			}
		}
		countA, countB := 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				countA++
			}
			if op.kind != '-' {
				countB++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(lineA, countA), hunkRange(lineB, countB))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.text)
			out.WriteByte('\n')
		}
		i = end
	}
	return out.String()
}

func hunkRange(line, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", line-1)
	}
	if count == 1 {
		return fmt.Sprint(line)
	}
	return fmt.Sprintf("%d,%d", line, count)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines is Myers' shortest edit script between a and b.
func diffLines(a, b []string) []lineOp {
	n, m := len(a), len(b)
	limit := min(n+m, maxEditDistance)
	// v[k] is the furthest x reached on diagonal k; trace keeps, for each d, the part of
	// v that step d read (diagonals -d-1..d+1), for the walk back.
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := false
	for d := 0; d <= limit && !found; d++ {
		trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = true
				break
			}
		}
	}
	if !found { // too far apart: everything removed, everything added
		ops := make([]lineOp, 0, n+m)
		for _, l := range a {
			ops = append(ops, lineOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, lineOp{'+', l})
		}
		return ops
	}
	var ops []lineOp
	x, y := n, m
	for d := len(trace) - 1; d >= 0; d-- {
		tv := trace[d]
		at := func(k int) int { return tv[k+d+1] }
		k := x - y
		var prevK int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			ops = append(ops, lineOp{' ', a[x-1]})
			x--
			y--
		}
		if d > 0 {
			if x == prevX {
				ops = append(ops, lineOp{'+', b[y-1]})
				y--
			} else {
				ops = append(ops, lineOp{'-', a[x-1]})
				x--
			}
		}
	}
	for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
		ops[i], ops[j] = ops[j], ops[i]
	}
	return ops
}
