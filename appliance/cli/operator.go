package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
	"cxt/crypto/secmem"
)

func operatorCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{Use: "operator", Short: "recovery and rekeying through the node's operator socket, proved by the master key",
		// Master keys and shares pass through this process: no core file.
		PersistentPreRun: func(*cobra.Command, []string) { secmem.DisableCoreDumps() }}
	c.PersistentFlags().StringVar(&dir, "data", "data", "the node's data folder")
	var account, reason, keyFile string
	var shareList []string
	bg := &cobra.Command{
		Use:   "break-glass --account USERNAME --reason TEXT [--key-file FILE | --share HEX ...]",
		Short: "give a locked-out administrator a one-time password and clear their second factor",
		Long: "When the only security administrator (or any administrator) has lost the password or the\n" +
			"second factor, the people who hold the master key recover the account on the node itself:\n" +
			"the key file of an embedded node (default DIR/master.key), or a quorum of unseal shares\n" +
			"(--share, or one per line on standard input). The account gets a one-time password, printed\n" +
			"here once; its second factor is removed, its lock lifted, its sessions ended, and its owner\n" +
			"notified. The attempt is audited, refused or not. See docs/operations.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := datadir.Load(dir)
			if err != nil {
				return badInput("%v", err)
			}
			if account == "" || len(strings.TrimSpace(reason)) < 5 {
				return badInput("--account and a --reason of at least 5 characters are required")
			}
			var master *keyring.MasterKey
			if cfg.Seal.Mode == datadir.SealKeyFile && len(shareList) == 0 {
				if keyFile == "" {
					keyFile = filepath.Join(dir, datadir.MasterKeyFile)
				}
				if master, err = datadir.ReadKeyFile(keyFile); err != nil {
					return badInput("%v", err)
				}
			} else {
				shares := sharesOrStdin(cmd, shareList)
				if len(shares) == 0 {
					return badInput("give the unseal shares: --share HEX (repeat) or one per line on standard input")
				}
				if master, err = masterFromShares(shares); err != nil {
					return err
				}
			}
			req := node.BreakGlassRequest{Account: account, Reason: reason, MasterKey: hex.EncodeToString(master.Bytes())}
			master.Zero()
			var res node.BreakGlassResult
			if err := socketPost(cmd.Context(), dir, "/break-glass", req, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Break-glass recovery of %s (%s) done.\n", res.Username, res.Account)
			fmt.Fprintf(out, "One-time password (shown only now; hand it to the owner in person): %s\n", res.OneTimePassword)
			fmt.Fprintln(out, "The second factor is removed, the sessions ended and the owner notified; the first login\nmust change the password and enroll a new factor. The recovery is in the audit log.")
			return nil
		},
	}
	bg.Flags().StringVar(&account, "account", "", "the username to recover")
	bg.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	bg.Flags().StringVar(&keyFile, "key-file", "", "the master key file (embedded node; default DIR/master.key)")
	bg.Flags().StringArrayVar(&shareList, "share", nil, "an unseal share (repeat up to the threshold)")
	c.AddCommand(bg, rekeyCmd(&dir))
	return c
}

// socketPost sends a JSON request to the node's operator socket and decodes
// the JSON answer into out.
func socketPost(ctx context.Context, dir, path string, in, out any) error {
	sock := filepath.Join(dir, datadir.AdminSocket)
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("no node is running on %s (no %s)", dir, sock)
	}
	cli := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	body, _ := json.Marshal(in)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://cxt"+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := cli.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("refused: %s", strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}
