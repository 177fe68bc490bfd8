// Command openloop sends introspection requests at a fixed rate (an open loop) and
// reports latency percentiles measured from when each request was due, so a server that
// falls behind is charged for the wait (no coordinated omission). A closed loop such as
// wrk gives the slower of two servers a proportionally longer latency at equal
// concurrency; at equal offered load their tails can be compared directly.
//
// Loopback only. Usage:
//
//	go run ./docs/bench/openloop -url http://127.0.0.1:18182/oauth2/introspect \
//	  -user demo-gateway -pass demo-gateway-secret -token "$TOKEN" -rate 4000 -d 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "", "introspection endpoint on loopback")
	user := flag.String("user", "", "HTTP Basic user (client id)")
	pass := flag.String("pass", "", "HTTP Basic password (client secret)")
	token := flag.String("token", "", "the token to introspect (form field token)")
	rate := flag.Int("rate", 2000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "how long to send")
	maxInFlight := flag.Int("max-in-flight", 2000, "requests outstanding at most; beyond it a request counts as dropped")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || !loopback(u.Hostname()) {
		fmt.Fprintln(os.Stderr, "openloop: -url must be an http URL on loopback")
		os.Exit(2)
	}
	body := url.Values{"token": {*token}}.Encode()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *maxInFlight, MaxIdleConnsPerHost: *maxInFlight, IdleConnTimeout: time.Minute}}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		failures  = map[string]int{} // by status code or error, under mu
		dropped   atomic.Int64
		inFlight  atomic.Int64
		wg        sync.WaitGroup
	)
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	n := int(*dur / interval)
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if inFlight.Load() >= int64(*maxInFlight) {
			dropped.Add(1)
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, *target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(*user, *pass)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				failures[errKind(err)]++
				mu.Unlock()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			took := time.Since(due)
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
				mu.Lock()
				failures[resp.Status]++
				mu.Unlock()
				return
			}
			mu.Lock()
			latencies = append(latencies, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))]
	}
	fmt.Printf("rate %d/s for %v: %d ok, %d failed, %d dropped; p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms\n",
		*rate, *dur, len(latencies), failed.Load(), dropped.Load(),
		ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)))
	if len(failures) > 0 {
		fmt.Printf("  failures: %v\n", failures)
	}
}

// errKind shortens a client error to its kind, for counting.
func errKind(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
