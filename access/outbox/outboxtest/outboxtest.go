// Package outboxtest holds what the outbox's tests and the end-to-end delivery tests
// share: receivers that misbehave, on loopback only.
package outboxtest

import (
	"net"
	"sync"
	"testing"
)

// HangingListener accepts connections and never answers: a receiver (or a black-holed
// address) that costs each delivery attempt its whole timeout. It returns the base URL,
// http://127.0.0.1:<port>, and closes everything when the test ends.
func HangingListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}
