package ui

import "testing"

func TestLimiter_OnlyFailuresCount(t *testing.T) {
	l := NewLimiter(1, 3) // 3 failures at once, then one a minute
	for i := 0; i < 20; i++ {
		if !l.Allow("10.0.0.1", "alice") {
			t.Fatal("successful sign-ins were throttled")
		}
	}
	for i := 0; i < 3; i++ {
		l.Fail("10.0.0.1", "alice")
	}
	if l.Allow("10.0.0.1", "bob") {
		t.Fatal("the address that failed 3 times may still try")
	}
	if l.Allow("10.0.0.2", "ALICE") {
		t.Fatal("the username that failed 3 times may still be tried from elsewhere")
	}
	if !l.Allow("10.0.0.2", "bob") {
		t.Fatal("an unrelated address and username are throttled")
	}
}
