package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
	"cxt/storage/blob"
)

type minioFlags struct {
	endpoint, access, secret, bucket string
	secure                           bool
}

func (m *minioFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&m.endpoint, "minio-endpoint", "", "keep documents in MinIO at HOST:PORT (default: in the data folder)")
	c.Flags().StringVar(&m.access, "minio-access-key", "", "MinIO access key")
	c.Flags().StringVar(&m.secret, "minio-secret-key", "", "MinIO secret key (or $CXT_MINIO_SECRET_KEY)")
	c.Flags().StringVar(&m.bucket, "minio-bucket", "cxt-documents", "MinIO bucket")
	c.Flags().BoolVar(&m.secure, "minio-tls", false, "reach MinIO over HTTPS")
}

func (m *minioFlags) config() *blob.MinIOConfig {
	if m.endpoint == "" {
		return nil
	}
	if m.secret == "" {
		m.secret = os.Getenv("CXT_MINIO_SECRET_KEY")
	}
	return &blob.MinIOConfig{Endpoint: m.endpoint, AccessKey: m.access, SecretKey: m.secret, Bucket: m.bucket, Secure: m.secure}
}

type addrFlags struct{ nodeID, api, cluster, advertise, gateway string }

func (a *addrFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&a.nodeID, "node-id", "", "this node's unique ID (default: generated)")
	c.Flags().StringVar(&a.api, "listen", node.DefaultAPI, "HTTPS business API address")
	c.Flags().StringVar(&a.cluster, "cluster", node.DefaultCluster, "node-to-node address")
	c.Flags().StringVar(&a.advertise, "advertise", "", "node-to-node address peers dial (default: --cluster)")
	c.Flags().StringVar(&a.gateway, "gateway-listen", "", "HTTPS address of the tax bureaus' gateway listener (default: none)")
}

func initCmd() *cobra.Command {
	var dir string
	var shares, threshold int
	var asJSON bool
	var addr addrFlags
	var mf minioFlags
	c := &cobra.Command{
		Use:   "init --data DIR",
		Short: "create the first node of a new cluster",
		Long: "Creates DIR with the node's keys and identity, the cluster CA and the first key term.\n" +
			"By default the master key is kept in DIR/master.key (the embedded single-node setup);\n" +
			"with --shares N --threshold K it is split into N Shamir shares, printed once, of which\n" +
			"K unseal the node (cxt unseal).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (shares == 0) != (threshold == 0) {
				return badInput("--shares and --threshold go together")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			res, err := node.Init(ctx, dir, node.InitOptions{
				NodeID: addr.nodeID, API: addr.api, Cluster: addr.cluster, Advertise: addr.advertise, Gateway: addr.gateway,
				Shares: shares, Threshold: threshold, MinIO: mf.config(),
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "Initialised node %s in %s.\n", res.NodeID, dir)
			fmt.Fprintf(out, "\nAdministrator accounts (one-time passwords, shown only now; change them at first login):\n")
			for _, a := range res.Admins {
				fmt.Fprintf(out, "  %-15s %-11s %s\n", a.Role, a.Username, a.Password)
			}
			if len(res.Shares) > 0 {
				fmt.Fprintf(out, "\nUnseal key shares (any %d of %d unseal the node). They are shown only now:\n", threshold, shares)
				for i, s := range res.Shares {
					fmt.Fprintf(out, "  share %d: %s\n", i+1, s)
				}
			}
			fmt.Fprintf(out, "\nStart it with: cxt serve --data %s\n", dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "data", "data folder to create")
	c.Flags().IntVar(&shares, "shares", 0, "split the master key into this many shares")
	c.Flags().IntVar(&threshold, "threshold", 0, "shares needed to unseal")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	addr.add(c)
	mf.add(c)
	return c
}

func serveCmd() *cobra.Command {
	var dir, listen, clusterAddr, gatewayAddr, logLevel string
	var inspectEvery time.Duration
	c := &cobra.Command{
		Use:   "serve --data DIR",
		Short: "run a node: the HTTPS API, replication and documents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return badInput("--log-level: %v", err)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			node.TuneRuntime()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := node.Open(ctx, node.Options{Dir: dir, APIAddr: listen, ClusterAddr: clusterAddr, GatewayAddr: gatewayAddr, Logger: logger,
				InspectEvery: inspectEvery})
			if err != nil {
				return err
			}
			st := n.Status()
			fmt.Fprintf(cmd.OutOrStdout(), "cxt: node %s serving https://%s (sealed: %v)\n", st.Node, n.APIAddr(), st.Sealed)
			if gw := n.GatewayAddr(); gw != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "cxt: tax bureaus' gateway on https://%s\n", gw)
			}
			if st.Sealed {
				fmt.Fprintf(cmd.OutOrStdout(), "cxt: unseal it with: cxt unseal --data %s\n", dir)
			}
			select {
			case <-ctx.Done():
				fmt.Fprintln(cmd.OutOrStdout(), "cxt: shutting down")
				return n.Close()
			case <-n.Stopped(): // fail-stop: exit non-zero, saying why
				n.Close()
				return n.Err()
			}
		},
	}
	c.Flags().StringVar(&dir, "data", "data", "data folder")
	c.Flags().StringVar(&listen, "listen", "", "HTTPS API address (default: as at init)")
	c.Flags().StringVar(&clusterAddr, "cluster", "", "node-to-node address (default: as at init)")
	c.Flags().StringVar(&gatewayAddr, "gateway-listen", "", "HTTPS address of the tax bureaus' gateway listener (default: node.json's gateway.listen; none: no gateway)")
	c.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	c.Flags().DurationVar(&inspectEvery, "inspect-every", 24*time.Hour, "how often the leader starts a post-hoc inspection job (0: only on demand)")
	return c
}

func joinCmd() *cobra.Command {
	var dir, leader, keyFile string
	var shareList []string
	var shares, threshold int
	var addr addrFlags
	var mf minioFlags
	c := &cobra.Command{
		Use:   "join --data DIR --leader ADDR (--key-file FILE | --share HEX ...)",
		Short: "create a node that joins an existing cluster",
		Long: "Proves the cluster's master key to the member at ADDR (its --cluster address) without\n" +
			"sending it, receives a node certificate, and creates DIR. Then run cxt serve --data DIR:\n" +
			"the node asks the cluster to add it as a voter.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var master *keyring.MasterKey
			var err error
			switch {
			case keyFile != "" && len(shareList) > 0:
				return badInput("give --key-file or --share, not both")
			case keyFile != "":
				master, err = datadir.ReadKeyFile(keyFile)
			case len(shareList) > 0:
				master, err = masterFromShares(shareList)
				if threshold == 0 {
					threshold = len(shareList)
				}
				if shares == 0 {
					shares = threshold
				}
			default:
				return badInput("the cluster's master key is required: --key-file or --share")
			}
			if err != nil {
				return badInput("master key: %v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			err = node.Join(ctx, dir, node.JoinOptions{
				NodeID: addr.nodeID, API: addr.api, Cluster: addr.cluster, Advertise: addr.advertise, Gateway: addr.gateway,
				Leader: leader, Master: master, KeyFile: keyFile != "", Shares: shares, Threshold: threshold, MinIO: mf.config(),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Joined: %s holds a node of the cluster at %s.\nStart it with: cxt serve --data %s\n", dir, leader, dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "data", "data folder to create")
	c.Flags().StringVar(&leader, "leader", "", "cluster address of any member")
	c.Flags().StringVar(&keyFile, "key-file", "", "the cluster's master.key (embedded mode)")
	c.Flags().StringArrayVar(&shareList, "share", nil, "an unseal share (repeat up to the threshold)")
	c.Flags().IntVar(&shares, "shares", 0, "how many shares the cluster's key was split into")
	c.Flags().IntVar(&threshold, "threshold", 0, "shares needed to unseal (default: as many as given)")
	c.MarkFlagRequired("leader")
	addr.add(c)
	mf.add(c)
	return c
}

func unsealCmd() *cobra.Command {
	var dir string
	var shareList []string
	c := &cobra.Command{
		Use:   "unseal --data DIR [--share HEX ...]",
		Short: "give a sealed node its key shares (from --share or one per line on standard input)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := datadir.Load(dir)
			if err != nil {
				return badInput("%v", err)
			}
			shareList = sharesOrStdin(cmd, shareList)
			if len(shareList) == 0 {
				return badInput("no shares given")
			}
			cli, err := apiClient(cfg)
			if err != nil {
				return err
			}
			var st node.UnsealStatus
			for _, s := range shareList {
				body, _ := json.Marshal(map[string]string{"share": s})
				resp, err := cli.Post("https://"+cfg.API+"/api/v1/sys/unseal", "application/json", strings.NewReader(string(body)))
				if err != nil {
					return err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("unseal refused: %s", strings.TrimSpace(string(b)))
				}
				json.Unmarshal(b, &st)
				if !st.Sealed {
					break
				}
			}
			if st.Sealed {
				fmt.Fprintf(cmd.OutOrStdout(), "still sealed: %d of %d shares given\n", st.Progress, st.Threshold)
				return &exitError{code: 1, err: fmt.Errorf("more shares are needed")}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "unsealed")
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "data", "the node's data folder (for its address and certificate)")
	c.Flags().StringArrayVar(&shareList, "share", nil, "an unseal share (repeatable)")
	return c
}

// apiClient trusts exactly the node's own API certificate.
func apiClient(cfg *datadir.Node) (*http.Client, error) {
	pemCert, err := os.ReadFile(cfg.Path(datadir.APICertFile))
	if err != nil {
		return nil, err
	}
	return pinnedClient(pemCert)
}

func statusCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "status --data DIR",
		Short: "print the running node's status as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, dir, http.MethodGet, "/status")
		},
	}
	c.Flags().StringVar(&dir, "data", "data", "the node's data folder")
	return c
}

func clusterCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{Use: "cluster", Short: "membership and maintenance through the node's operator socket"}
	c.PersistentFlags().StringVar(&dir, "data", "data", "the node's data folder")
	c.AddCommand(&cobra.Command{
		Use: "remove NODE-ID", Short: "take a node out of the cluster", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, dir, http.MethodPost, "/cluster/remove/"+args[0])
		},
	}, &cobra.Command{
		Use: "transfer-leadership", Short: "hand leadership to another voter (run on the leader)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, dir, http.MethodPost, "/cluster/transfer-leadership")
		},
	}, &cobra.Command{
		Use: "snapshot", Short: "take a Raft snapshot now", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, dir, http.MethodPost, "/cluster/snapshot")
		},
	}, &cobra.Command{
		Use: "command-set N", Short: "let the cluster carry the commands of set N (once every node runs a cxt that speaks it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, dir, http.MethodPost, "/cluster/command-set/"+url.PathEscape(args[0]))
		},
	})
	return c
}

// adminCall talks HTTP to the node's operator socket in its data folder.
func adminCall(cmd *cobra.Command, dir, method, path string) error {
	sock := dir + string(os.PathSeparator) + datadir.AdminSocket
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("no node is running on %s (no %s)", dir, sock)
	}
	cli := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	req, _ := http.NewRequestWithContext(cmd.Context(), method, "http://cxt"+path, nil)
	resp, err := cli.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
