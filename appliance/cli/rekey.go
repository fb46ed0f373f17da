package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
)

func rekeyCmd(dir *string) *cobra.Command {
	var reason, keyFile, nonce string
	var shareList []string
	var toKeyFile, verify, cancel, asJSON bool
	var toShares, toThreshold int
	c := &cobra.Command{
		Use:   "rekey --reason TEXT [--key-file FILE | --share HEX ...] [--to-key-file | --to-shares N --to-threshold K]",
		Short: "replace the master key: new shares or a new key file, proved by the current key",
		Long: "Replaces the node's master key. The current key is proved as for break-glass: the key file of\n" +
			"an embedded node (default DIR/master.key, or --key-file), or a quorum of unseal shares (--share,\n" +
			"or one per line on standard input). The node re-wraps its key terms, its node key and the secrets\n" +
			"in node.json under the new key; afterwards the old key and shares open nothing the node uses.\n" +
			"\n" +
			"To a key file (--to-key-file, the default for an embedded node) the switch happens at once and\n" +
			"DIR/master.key holds the new key. To shares (--to-shares N --to-threshold K, default: as now) the\n" +
			"new shares are printed once and nothing changes until K of them are given back:\n" +
			"  cxt operator rekey --verify --nonce NONCE --data DIR   (the new shares, one per line on stdin)\n" +
			"--cancel forgets a rekey waiting for its shares. A node in a cluster of several is refused;\n" +
			"see docs/operations.md, \"Rekey\".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch {
			case cancel:
				var res map[string]bool
				if err := socketPost(cmd.Context(), *dir, "/rekey/cancel", struct{}{}, &res); err != nil {
					return err
				}
				if !res["cancelled"] {
					fmt.Fprintln(out, "No rekey was waiting.")
					return nil
				}
				fmt.Fprintln(out, "The waiting rekey is forgotten; its shares open nothing. The current key stays in force.")
				return nil
			case verify:
				if nonce == "" {
					return badInput("--verify needs the --nonce the rekey printed")
				}
				shares := sharesOrStdin(cmd, shareList)
				if len(shares) == 0 {
					return badInput("give the new shares: --share HEX (repeat) or one per line on standard input")
				}
				var res node.RekeyResult
				if err := socketPost(cmd.Context(), *dir, "/rekey/verify", node.RekeyVerifyRequest{Nonce: nonce, Shares: shares}, &res); err != nil {
					return err
				}
				fmt.Fprintln(out, "The new shares are verified and the new master key is in force. The old shares open nothing\nthis node uses; destroy them. Unseal with the new shares from now on.")
				return nil
			}
			cfg, err := datadir.Load(*dir)
			if err != nil {
				return badInput("%v", err)
			}
			if len(strings.TrimSpace(reason)) < 5 {
				return badInput("a --reason of at least 5 characters is required")
			}
			req := node.RekeyRequest{Reason: reason}
			switch {
			case toKeyFile && (toShares != 0 || toThreshold != 0):
				return badInput("give --to-key-file or --to-shares/--to-threshold, not both")
			case toKeyFile:
				req.Mode = datadir.SealKeyFile
			case toShares != 0 || toThreshold != 0:
				req.Mode, req.Shares, req.Threshold = datadir.SealShares, toShares, toThreshold
			}
			var master *keyring.MasterKey
			if cfg.Seal.Mode == datadir.SealKeyFile && len(shareList) == 0 {
				if keyFile == "" {
					keyFile = filepath.Join(*dir, datadir.MasterKeyFile)
				}
				if master, err = datadir.ReadKeyFile(keyFile); err != nil {
					return badInput("%v", err)
				}
			} else {
				shares := sharesOrStdin(cmd, shareList)
				if len(shares) == 0 {
					return badInput("give the current unseal shares: --share HEX (repeat) or one per line on standard input")
				}
				if master, err = masterFromShares(shares); err != nil {
					return err
				}
			}
			b := master.Bytes()
			req.MasterKey = hex.EncodeToString(b)
			clear(b)
			master.Zero()
			var res node.RekeyResult
			if err := socketPost(cmd.Context(), *dir, "/rekey", req, &res); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			if res.Done {
				fmt.Fprintf(out, "The master key is replaced; the new key is in %s (0600). The old key file opens nothing\nthis node uses; destroy every copy of it.\n", res.KeyFile)
				return nil
			}
			fmt.Fprintf(out, "New unseal key shares (any %d of %d). They are shown only now:\n", res.Threshold, len(res.Shares))
			for i, s := range res.Shares {
				fmt.Fprintf(out, "  share %d: %s\n", i+1, s)
			}
			fmt.Fprintf(out, "\nNothing has changed yet: the current key stays in force until %d of these shares are given back:\n", res.Threshold)
			fmt.Fprintf(out, "  cxt operator rekey --verify --nonce %s --data %s   (one share per line on standard input)\n", res.Nonce, *dir)
			fmt.Fprintln(out, "A node restart before then forgets this rekey, and these shares open nothing.")
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	c.Flags().StringVar(&keyFile, "key-file", "", "the current master key file (embedded node; default DIR/master.key)")
	c.Flags().StringArrayVar(&shareList, "share", nil, "a current unseal share, or with --verify a new one (repeat up to the threshold)")
	c.Flags().BoolVar(&toKeyFile, "to-key-file", false, "keep the new key in DIR/master.key")
	c.Flags().IntVar(&toShares, "to-shares", 0, "split the new key into this many shares")
	c.Flags().IntVar(&toThreshold, "to-threshold", 0, "new shares needed to unseal")
	c.Flags().BoolVar(&verify, "verify", false, "give back a threshold of the new shares to switch to them")
	c.Flags().StringVar(&nonce, "nonce", "", "with --verify: the nonce the rekey printed")
	c.Flags().BoolVar(&cancel, "cancel", false, "forget a rekey waiting for its shares")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}
