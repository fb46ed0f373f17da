package cli

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/crypto/keyring"
)

func auditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "the tamper-evident audit log"}
	var dir string
	var shares []string
	verify := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "check a stopped node's audit log offline; exit 0 intact, 1 tampered",
		Long: "Reopens every entry, recomputes its SM3 leaf hash and the Merkle tree, and compares them\n" +
			"with what is stored. The first bad entry is named. The master key comes from DIR/master.key\n" +
			"or, in shares mode, from --share flags or one share per line on standard input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := datadir.Load(dir)
			if err != nil {
				return badInput("%v", err)
			}
			master, err := masterFor(cmd, cfg, shares)
			if err != nil {
				return err
			}
			rep, err := node.VerifyAudit(dir, master)
			if err != nil {
				return err
			}
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetIndent("", "  ")
			out.Encode(map[string]any{
				"ok": rep.OK, "size": rep.Size, "root": hex.EncodeToString(rep.Root[:]),
				"first_bad": rep.FirstBad, "problem": rep.Problem,
			})
			if !rep.OK {
				return &exitError{code: 1, err: fmt.Errorf("audit log entry %d: %s", rep.FirstBad, rep.Problem)}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&dir, "data", "data", "the node's data folder (the node must be stopped)")
	verify.Flags().StringArrayVar(&shares, "share", nil, "an unseal share (shares mode)")
	c.AddCommand(verify)
	return c
}

// masterFor reads the master key of a data folder: its key file, or shares.
func masterFor(cmd *cobra.Command, cfg *datadir.Node, shares []string) (*keyring.MasterKey, error) {
	if cfg.Seal.Mode == datadir.SealKeyFile {
		return cfg.MasterFromKeyFile()
	}
	m, err := masterFromShares(sharesOrStdin(cmd, shares))
	if err != nil {
		return nil, err
	}
	if err := m.Check(cfg.Seal.Verifier); err != nil {
		return nil, badInput("%v", err)
	}
	return m, nil
}

// sharesOrStdin returns the --share values, or else the non-empty lines of
// standard input.
func sharesOrStdin(cmd *cobra.Command, shares []string) []string {
	if len(shares) > 0 {
		return shares
	}
	sc := bufio.NewScanner(cmd.InOrStdin())
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			shares = append(shares, s)
		}
	}
	return shares
}

// masterFromShares rebuilds a master key from hex shares.
func masterFromShares(shares []string) (*keyring.MasterKey, error) {
	raw := make([][]byte, 0, len(shares))
	for _, s := range shares {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, badInput("a share is hex")
		}
		raw = append(raw, b)
	}
	m, err := keyring.MasterKeyFromShares(raw)
	if err != nil {
		return nil, badInput("shares: %v", err)
	}
	return m, nil
}
