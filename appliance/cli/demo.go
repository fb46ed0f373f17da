package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/channel"
	"cxt/appliance/datadir"
	"cxt/appliance/demo"
	"cxt/appliance/node"
	"cxt/appliance/notify"
)

func demoCmd() *cobra.Command {
	var dir, listen, clusterAddr string
	var fillOnly bool
	var workers int
	c := &cobra.Command{
		Use:   "demo --data DIR [--listen ADDR]",
		Short: "create a demo node, fill it with the documented demo world through the API, and serve it",
		Long: "On a new DIR: initialises a node marked demo in node.json, serves it, fills it through the\n" +
			"public API (administrators, platform staff, merchants …) and writes DIR/demo/world.json with\n" +
			"every account's password and TOTP secret, what was registered and the IDs created.\n" +
			"On a DIR it created before: serves it again. It refuses a node that is not a demo node.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
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
				ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				res, err := node.Init(ictx, dir, node.InitOptions{API: api, Cluster: clusterAddr, Demo: true})
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
			n, err := node.Open(ctx, node.Options{Dir: dir, APIAddr: listen, ClusterAddr: clusterAddr, Logger: logger,
				Notify: &notify.Config{SMSWebhook: sink.URL}, Channel: bank})
			if err != nil {
				return err
			}
			defer n.Close()
			world := filepath.Join(dir, "demo", "world.json")
			if _, err := os.Stat(world); err != nil {
				if admins == nil {
					return fmt.Errorf("the demo world in %s was never completed and the administrators' one-time passwords are gone: remove %s and run cxt demo again", dir, dir)
				}
				if err := fill(ctx, out, n, dir, admins, sink, workers); err != nil {
					return err
				}
			}
			if fillOnly {
				fmt.Fprintf(out, "cxt: the demo world is in %s; serve it with cxt demo --data %s\n", world, dir)
				return nil
			}
			fmt.Fprintf(out, "cxt: demo node serving https://%s\n", n.APIAddr())
			fmt.Fprintf(out, "\nThe demo world is in %s: every account with its password and TOTP secret,\n", world)
			fmt.Fprintf(out, "what was registered and the IDs created. Next:\n")
			fmt.Fprintf(out, "  jq '.accounts[] | {username, role}' %s\n", world)
			fmt.Fprintf(out, "  SMS codes (workers' logins, signing) arrive in %s\n", filepath.Join(dir, "demo", "sms.jsonl"))
			fmt.Fprintf(out, "  docs/onboarding.md walks every flow against this world with curl (trust %s)\n", filepath.Join(dir, "api.pem"))
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
	c.Flags().IntVar(&workers, "workers", demo.DemoWorkers, "how many workers the world registers")
	c.Flags().BoolVar(&fillOnly, "fill-only", false, "fill the world if need be, then stop instead of serving (for scripts)")
	return c
}

// fill builds the demo world on n, telling out each step.
func fill(ctx context.Context, out io.Writer, n *node.Node, dir string, admins []demo.Admin, sink *demo.SMSSink, workers int) error {
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
	_, err = demo.Fill(fctx, n.APIAddr(), ca, caFile, admins, sink, filepath.Join(dir, "demo"), demo.Options{Workers: workers, Progress: func(step string) {
		fmt.Fprintf(out, "  [%5.1fs] %s\n", time.Since(start).Seconds(), step)
	}})
	if err != nil {
		return fmt.Errorf("filling the demo world: %w (remove %s and run cxt demo again)", err, dir)
	}
	fmt.Fprintf(out, "  [%5.1fs] done\n", time.Since(start).Seconds())
	return nil
}
