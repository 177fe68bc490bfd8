// Command flood sends a burst of token requests with wrong client secrets (each one
// different, so each costs an argon2id run) while one caller with the correct secret
// keeps asking, and reports the answers and that caller's latency. Loopback only.
//
//	go run ./docs/bench/flood -url http://127.0.0.1:18181/oauth2/token -id demo-m2m -secret demo-m2m-secret
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "token endpoint on loopback")
	id := flag.String("id", "demo-m2m", "client id")
	secret := flag.String("secret", "demo-m2m-secret", "the client's correct secret")
	scope := flag.String("scope", "api.read", "scope to ask for")
	n := flag.Int("n", 200, "concurrent wrong-secret callers")
	d := flag.Duration("d", 10*time.Second, "how long the burst lasts")
	spread := flag.Int("spread", 1, "loopback source addresses the wrong-secret callers use (127.0.1.1 on); 1 sends all from the default one")
	flag.Parse()
	if *spread < 1 || *spread > 250 {
		log.Fatal("flood: -spread must be from 1 to 250")
	}
	u, err := url.Parse(*target)
	if err != nil || u.Hostname() == "" {
		log.Fatal("flood: -url must be an http URL on loopback")
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		log.Fatal("flood: -url must be on loopback")
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {*scope}}.Encode()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *n + 1}, Timeout: 30 * time.Second}
	// The wrong-secret callers, each from one of the source addresses (a spread-out
	// attacker meets the per-client limit, not only the per-address one).
	flooders := []*http.Client{client}
	if *spread > 1 {
		flooders = nil
		for i := 1; i <= *spread; i++ {
			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i))}}
			flooders = append(flooders, &http.Client{Timeout: 30 * time.Second,
				Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: *n/(*spread) + 1}})
		}
	}
	postWith := func(client *http.Client, sec string) (int, time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, *target, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(*id, sec)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, time.Since(start)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	post := func(sec string) (int, time.Duration) { return postWith(client, sec) }
	if code, _ := post(*secret); code != http.StatusOK { // warm: the correct secret is now cached
		log.Fatalf("flood: the correct secret got %d", code)
	}
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	stop := time.Now().Add(*d)
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; time.Now().Before(stop); k++ {
				code, _ := postWith(flooders[i%len(flooders)], fmt.Sprintf("wrong-%d-%d", i, k))
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}(i)
	}
	var good []time.Duration
	goodCodes := map[int]int{}
	for time.Now().Before(stop) {
		code, took := post(*secret)
		goodCodes[code]++
		good = append(good, took)
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	slices.Sort(good)
	pct := func(p int) time.Duration { return good[(len(good)-1)*p/100] }
	fmt.Printf("wrong-secret answers: %v\n", codes)
	fmt.Printf("correct caller: %d requests %v, p50 %v p99 %v max %v\n", len(good), goodCodes, pct(50), pct(99), good[len(good)-1])
	os.Exit(0)
}
