package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Failed client authentications are counted once for the cluster: two `weft serve`
// nodes on one PostgreSQL and one Redis, wrong secrets for demo-m2m sent to both in
// turn from several loopback addresses; the client id's limit holds across the nodes
// (not twice it), and the client itself, from the address it authenticated from before
// on node 1, still gets a token on node 2, where its secret is not cached (issue 9, H2).
func TestThrottle_SharedAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two weft processes")
	}
	f := newFabric(t, "WEFT_CLIENT_AUTH_FAILURES_PER_IP=5", "WEFT_CLIENT_AUTH_FAILURES_PER_CLIENT=8",
		// The count is the point here; held refusals would let the bucket refill meanwhile.
		"WEFT_CLIENT_AUTH_REFUSAL_HOLD=0s")
	nodes := []*node{startNode(t, f.bin, f.env, "node-1", f.addr1, ""), startNode(t, f.bin, f.env, "node-2", closedPort(t), "")}
	for _, n := range nodes {
		n.waitReady(t)
	}
	token := func(n *node, from net.IP, secret string) int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext}}
		req, _ := http.NewRequest(http.MethodPost, n.base+"/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-m2m", secret)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	home := net.IPv4(127, 0, 0, 1)
	if code := token(nodes[0], home, "demo-m2m-secret"); code != http.StatusOK {
		t.Fatalf("the client on node 1: %d", code)
	}
	codes := map[int]int{}
	for i := range 24 {
		codes[token(nodes[i%2], net.IPv4(127, 0, 1, byte(1+i/6)), fmt.Sprintf("wrong-%d", i))]++
	}
	if codes[http.StatusUnauthorized] != 8 || codes[http.StatusTooManyRequests] != 16 {
		t.Fatalf("24 wrong secrets over two nodes: %v; want the client id's limit (8) checked, the rest 429", codes)
	}
	if code := token(nodes[1], home, "demo-m2m-secret"); code != http.StatusOK {
		t.Fatalf("the client, from its known address, on the node that never saw it: %d", code)
	}
}
