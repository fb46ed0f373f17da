package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/channel"
	"cxt/appliance/datadir"
	"cxt/appliance/demo"
	"cxt/appliance/node"
	"cxt/appliance/notify"
	"cxt/appliance/payouts"
	"cxt/appliance/reconcile"
)

func demoCmd() *cobra.Command {
	var dir, listen, clusterAddr, gatewayAddr string
	var fillOnly bool
	var workers int
	c := &cobra.Command{
		Use:   "demo --data DIR [--listen ADDR] [--gateway-listen ADDR]",
		Short: "create a demo node, fill it with the documented demo world through the API, and serve it",
		Long: "On a new DIR: initialises a node marked demo in node.json, serves it, fills it through the\n" +
			"public API (administrators, platform staff, merchants …) and writes DIR/demo/world.json with\n" +
			"every account's password and TOTP secret, what was registered and the IDs created. Its tax\n" +
			"bureaus' gateway listens beside the API (the next port unless --gateway-listen says otherwise);\n" +
			"two bureaus' clients are registered, their keys in DIR/demo, so cxt gateway pull works at once.\n" +
			"On a DIR it created before: serves it again. It refuses a node that is not a demo node.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			node.TuneRuntime()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var admins []demo.Admin
			cfg, err := datadir.Load(dir)
			switch {
			case errors.Is(err, datadir.ErrNotInitialised):
				api := listen
				if api == "" {
					api = node.DefaultAPI
				}
				gw := gatewayAddr
				if gw == "" {
					if gw, err = besideAPI(api); err != nil {
						return badInput("--listen %s: %v", api, err)
					}
				}
				ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				res, err := node.Init(ictx, dir, node.InitOptions{API: api, Cluster: clusterAddr, Gateway: gw, Demo: true})
				cancel()
				if err != nil {
					return err
				}
				for _, a := range res.Admins {
					admins = append(admins, demo.Admin{Role: a.Role, Username: a.Username, Password: a.Password})
				}
				fmt.Fprintf(out, "cxt: initialised demo node %s in %s\n", res.NodeID, dir)
			case err != nil:
				return err
			case !cfg.Demo:
				return badInput("%s is not a demo node (its node.json does not say \"demo\": true); cxt demo fills only nodes it created: use cxt serve --data %s", dir, dir)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			// The demo's SMS gateway: messages (login and signing codes)
			// land in DIR/demo/sms.jsonl, where an evaluator reads them.
			if err := os.MkdirAll(filepath.Join(dir, "demo"), 0o700); err != nil {
				return err
			}
			sink, err := demo.StartSMSSink(filepath.Join(dir, "demo", "sms.jsonl"))
			if err != nil {
				return err
			}
			defer sink.Close()
			// The demo's sandbox bank pays in half a second and sends its
			// few returns back within seconds, so the demo shows them.
			bank, err := channel.NewSandbox(filepath.Join(dir, node.SandboxJournal), 1)
			if err != nil {
				return err
			}
			defer bank.Close()
			bank.Latency, bank.FailRate, bank.ReturnRate, bank.ReturnDelay = 500*time.Millisecond, 0.03, 0.03, demo.DemoReturnDelay
			// The demo's clock: filling, the world begins two months back
			// and the clock moves forward to each month it pays in, ending
			// on the real time (demo.Clock). Node and bank read it alike.
			clock := &demo.Clock{}
			bank.Now = clock.Now
			n, err := node.Open(ctx, node.Options{Dir: dir, APIAddr: listen, ClusterAddr: clusterAddr, GatewayAddr: gatewayAddr, Logger: logger,
				Notify: &notify.Config{SMSWebhook: sink.URL}, Channel: bank, Now: clock.Now})
			if err != nil {
				return err
			}
			defer n.Close()
			world := filepath.Join(dir, "demo", "world.json")
			if _, err := os.Stat(world); err != nil {
				if admins == nil {
					return fmt.Errorf("the demo world in %s was never completed and the administrators' one-time passwords are gone: remove %s and run cxt demo again", dir, dir)
				}
				if err := fill(ctx, out, n, dir, admins, sink, workers, clock, bankStatement(bank)); err != nil {
					return err
				}
			}
			if fillOnly {
				fmt.Fprintf(out, "cxt: the demo world is in %s; serve it with cxt demo --data %s\n", world, dir)
				return nil
			}
			fmt.Fprintf(out, "cxt: demo node serving https://%s\n", n.APIAddr())
			if gw := n.GatewayAddr(); gw != "" {
				fmt.Fprintf(out, "cxt: tax bureaus' gateway on https://%s (its certificate: %s)\n", gw, filepath.Join(dir, datadir.GatewayCert))
			}
			fmt.Fprintf(out, "\nThe demo world is in %s: every account with its password and TOTP secret,\n", world)
			fmt.Fprintf(out, "what was registered and the IDs created. Next:\n")
			fmt.Fprintf(out, "  jq '.accounts[] | {username, role}' %s\n", world)
			fmt.Fprintf(out, "  SMS codes (workers' logins, signing) arrive in %s\n", filepath.Join(dir, "demo", "sms.jsonl"))
			fmt.Fprintf(out, "  docs/onboarding.md walks every flow against this world with curl (trust %s)\n", filepath.Join(dir, "api.pem"))
			if w, err := readWorld(world); err == nil && w.GatewayURL != "" && len(w.Bureaus) == 2 {
				pulled := filepath.Join(dir, "demo", "feed")
				fmt.Fprintf(out, "  A tax bureau pulls the feed (every fact above, signed and chained) and checks it offline (docs/gateway.md):\n")
				for _, c := range w.PullCommands(w.BureauKey, pulled) {
					fmt.Fprintf(out, "    %s\n", c)
				}
				fmt.Fprintf(out, "    python3 docs/gateway-verify.py %s   # the same check with OpenSSL alone\n", pulled)
				fmt.Fprintf(out, "  %s's bureau reads that office's chain only: --client-key %s\n", strings.Join(w.Bureaus[len(w.Bureaus)-1].Offices, ","), w.BureauOfficeKey)
			}
			fmt.Fprintf(out, "  Stop it with Ctrl-C; cxt demo --data %s serves it again.\n", dir)
			select {
			case <-ctx.Done():
				fmt.Fprintln(out, "cxt: shutting down")
				return nil
			case <-n.Stopped():
				return n.Err()
			}
		},
	}
	c.Flags().StringVar(&dir, "data", "demo-data", "data folder of the demo node")
	c.Flags().StringVar(&listen, "listen", "", "HTTPS API address (default "+node.DefaultAPI+")")
	c.Flags().StringVar(&clusterAddr, "cluster", "", "node-to-node address (default "+node.DefaultCluster+")")
	c.Flags().StringVar(&gatewayAddr, "gateway-listen", "", "HTTPS address of the tax bureaus' gateway (default: the port after the API's, kept in node.json)")
	c.Flags().IntVar(&workers, "workers", demo.DemoWorkers, "how many workers the world registers")
	c.Flags().BoolVar(&fillOnly, "fill-only", false, "fill the world if need be, then stop instead of serving (for scripts)")
	return c
}

// fill builds the demo world on n, telling out each step.
func fill(ctx context.Context, out io.Writer, n *node.Node, dir string, admins []demo.Admin, sink *demo.SMSSink, workers int, clock *demo.Clock,
	statement func(day string) ([]byte, error)) error {
	for n.Status().Leader == "" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	caFile := filepath.Join(dir, "api.pem")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintln(out, "cxt: filling the demo world through the public API")
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	o := demo.Options{Workers: workers, Clock: clock, Statement: statement, Progress: func(step string) {
		fmt.Fprintf(out, "  [%5.1fs] %s\n", time.Since(start).Seconds(), step)
	}}
	if gw := n.GatewayAddr(); gw != "" {
		o.Gateway, o.GatewayCA = gw, filepath.Join(dir, datadir.GatewayCert)
	}
	_, err = demo.Fill(fctx, n.APIAddr(), ca, caFile, admins, sink, filepath.Join(dir, "demo"), o)
	if err != nil {
		return fmt.Errorf("filling the demo world: %w (remove %s and run cxt demo again)", err, dir)
	}
	fmt.Fprintf(out, "  [%5.1fs] done\n", time.Since(start).Seconds())
	return nil
}

// besideAPI is the address after the API's port on the same host: the demo
// node's gateway listener.
func besideAPI(api string) (string, error) {
	host, port, err := net.SplitHostPort(api)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		return "", fmt.Errorf("the port after %s: give --gateway-listen", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// readWorld reads a demo world.json.
func readWorld(path string) (*demo.World, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w demo.World
	return &w, json.Unmarshal(b, &w)
}

// bankStatement is the demo bank's statement (对账单) of a day in China, in
// the format appliance/reconcile reads: what the sandbox itself settled.
func bankStatement(bank *channel.Sandbox) func(day string) ([]byte, error) {
	return func(day string) ([]byte, error) {
		settled, err := bank.Statement(day, payouts.China)
		if err != nil {
			return nil, err
		}
		lines := make([]reconcile.Line, len(settled))
		for i, s := range settled {
			d, ok := reconcile.ParseDay(s.At.In(payouts.China).Format(time.DateOnly))
			if !ok {
				return nil, fmt.Errorf("demo: the bank settled %s on a day it cannot write", s.Ref)
			}
			lines[i] = reconcile.Line{Ref: s.Ref, BankRef: s.ChannelRef, Fen: s.Fen, Status: s.Status, Date: d}
		}
		return reconcile.WriteStatement(lines), nil
	}
}
