package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/api"
	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/policy"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// apiReads measures authenticated GET /api/v1/me through the whole stack
// (TLS, session, OPA, handler with a linearizable read, audit record) with
// clients concurrent clients, and the same handler behind TLS and the
// session alone.
func apiReads(dir string, clients int, d time.Duration) (full, bare float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := filepath.Join(dir, "api-node")
	listen := loopback.FreeAddr()
	if _, err := node.Init(ctx, data, node.InitOptions{API: listen, Cluster: loopback.FreeAddr()}); err != nil {
		return 0, 0, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Open(ctx, node.Options{Dir: data, Logger: quiet})
	if err != nil {
		return 0, 0, err
	}
	defer n.Close()
	for n.Status().Leader == "" {
		time.Sleep(10 * time.Millisecond)
	}
	// A merchant operator with a known password, made directly (a worker would
	// need an SMS code to sign in).
	key, err := n.Cluster().Keys().IndexKey()
	if err != nil {
		return 0, 0, err
	}
	hash, _ := identity.HashPassword("Bench-Worker-2026!")
	acct := identity.Account{ID: "acct-bench", Username: "bench", Roles: []string{identity.MerchantOperator}, Clearance: 1, Password: hash}
	body, _ := json.Marshal(identity.CreateAccount{Account: acct, NameIndex: identity.NameIndex(key, "bench")})
	if _, err := n.Cluster().ProposeOK(ctx, state.NewCommand(identity.CmdCreateAccount, body, time.Now())); err != nil {
		return 0, 0, err
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: clients,
	}}
	resp, err := client.Post("https://"+listen+"/api/v1/sessions", "application/json",
		strings.NewReader(`{"username":"bench","password":"Bench-Worker-2026!"}`))
	if err != nil {
		return 0, 0, err
	}
	var login struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.Token == "" {
		return 0, 0, fmt.Errorf("bench login failed: %s", resp.Status)
	}

	// The same handler without OPA and audit, behind TLS and the session.
	bundle, _ := policy.Embedded()
	authz, _ := policy.New(ctx, bundle)
	sessions := &identity.Backend{Policy: identity.DefaultPolicy}
	srv := &api.Server{Cluster: n.Cluster, Authz: authz, Now: time.Now, Log: quiet, Sessions: sessions}
	srv.Mount(sessions)
	r := mux.NewRouter()
	r.HandleFunc("/api/v1/me", srv.Unguarded("sessions.current"))
	bareSrv := httptest.NewTLSServer(r)
	defer bareSrv.Close()

	run := func(url string) (float64, error) {
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < d {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+login.Token)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						continue
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			return 0, fmt.Errorf("%d requests failed", failed.Load())
		}
		return float64(ok.Load()) / time.Since(start).Seconds(), nil
	}
	if bare, err = run(bareSrv.URL + "/api/v1/me"); err != nil {
		return 0, 0, err
	}
	full, err = run("https://" + listen + "/api/v1/me")
	return full, bare, err
}
