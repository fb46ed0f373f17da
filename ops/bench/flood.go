package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// loginFlood measures logins per second of legitimate users — each from an
// address of its own, each trying again as soon as it is answered — alone,
// and then while 40 anonymous clients from one address flood the node with
// wrong logins, captchas and SM2 challenges. The node runs its default
// per-source limits (api.DefaultLimits).
func loginFlood(dir string, users int, d time.Duration) (alone, flooded float64, floodSent int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := filepath.Join(dir, "flood-node")
	listen := loopback.FreeAddr()
	if _, err := node.Init(ctx, data, node.InitOptions{API: listen, Cluster: loopback.FreeAddr()}); err != nil {
		return 0, 0, 0, err
	}
	n, err := node.Open(ctx, node.Options{Dir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, 0, 0, err
	}
	defer n.Close()
	for n.Status().Leader == "" {
		time.Sleep(10 * time.Millisecond)
	}
	key, err := n.Cluster().Keys().IndexKey()
	if err != nil {
		return 0, 0, 0, err
	}
	hash, _ := identity.HashPassword("Bench-Worker-2026!")
	for i := range users {
		name := fmt.Sprintf("worker-%d", i)
		acct := identity.Account{ID: "acct-" + name, Username: name, Roles: []string{identity.Worker}, Clearance: 1, Password: hash}
		body, _ := json.Marshal(identity.CreateAccount{Account: acct, NameIndex: identity.NameIndex(key, name)})
		if _, err := n.Cluster().ProposeOK(ctx, state.NewCommand(identity.CmdCreateAccount, body, time.Now())); err != nil {
			return 0, 0, 0, err
		}
	}
	base := "https://" + listen
	// from returns a client whose connections come from 127.0.0.x.
	from := func(x int) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(x/250), byte(2+x%250))}}
		return &http.Client{Transport: &http.Transport{
			DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64,
		}}
	}
	post := func(c *http.Client, path, body string) int {
		resp, err := c.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// legit runs the users for d and counts the logins that finished
	// inside it; it returns only when every user's last request is done,
	// so that no login of one phase takes the CPU of the next.
	legit := func() float64 {
		var ok atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := from(10 + i)
				body := fmt.Sprintf(`{"username":"worker-%d","password":"Bench-Worker-2026!"}`, i)
				for time.Since(start) < d {
					if post(c, "/api/v1/sessions", body) == 201 && time.Since(start) < d {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return float64(ok.Load()) / d.Seconds()
	}

	alone = legit()

	var sent atomic.Int64
	stopFlood := make(chan struct{})
	var fwg sync.WaitGroup
	attacker := from(0)
	for w := range 40 {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopFlood:
					return
				default:
				}
				switch (w + i) % 3 {
				case 0:
					b := make([]byte, 6)
					rand.Read(b)
					post(attacker, "/api/v1/sessions", fmt.Sprintf(`{"username":"guess-%s","password":"Wrong-Password-1!"}`, hex.EncodeToString(b)))
				case 1:
					resp, err := attacker.Get(base + "/api/v1/captcha")
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				default:
					post(attacker, "/api/v1/sessions/challenge", "")
				}
				sent.Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // the flood is on before the users measure
	flooded = legit()
	close(stopFlood)
	fwg.Wait()
	return alone, flooded, sent.Load(), nil
}

func renderFlood(alone, flooded float64, sent int64, users int, d time.Duration) string {
	if alone == 0 {
		return ""
	}
	return fmt.Sprintf("\n## Logins under an anonymous flood\n\n"+
		"%d legitimate users, each from its own address, log in back to back (a password check is PBKDF2-HMAC-SM3); "+
		"then the same while 40 anonymous clients from one address flood wrong logins, captchas and SM2 challenges "+
		"(%d flood requests in %s), against the default per-source limits:\n\n"+
		"| load | legitimate logins/s | vs alone |\n|---|---:|---:|\n"+
		"| users alone | %.1f | 100%% |\n"+
		"| users during the flood | %.1f | %.0f%% |\n\n"+
		"Goal: ≥ 70%% of the logins without the flood.\n",
		users, sent, d, alone, flooded, 100*flooded/alone)
}
