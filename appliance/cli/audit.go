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
	"cxt/storage/state"
)

func auditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "the tamper-evident audit log"}
	var dir string
	var shares []string
	verify := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "check a stopped node's audit log offline; exit 0 intact, 1 tampered",
		Long: "Reopens every entry, recomputes its SM3 leaf hash and the Merkle tree, and compares them\n" +
			"with what is stored; then checks the state file against its authenticated head (applied index,\n" +
			"audit size and root, the digest of every record), so that removed entries with an older frontier\n" +
			"put back, or any record put back from an older copy, are found. The first bad entry is named.\n" +
			"The master key comes from DIR/master.key or, in shares mode, from --share flags or one share\n" +
			"per line on standard input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			master, err := masterFor(cmd, dir, shares)
			if err != nil {
				return err
			}
			rep, head, err := node.VerifyAudit(dir, master)
			if err != nil {
				return err
			}
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetIndent("", "  ")
			out.Encode(map[string]any{
				"ok": rep.OK, "size": rep.Size, "root": hex.EncodeToString(rep.Root[:]),
				"first_bad": rep.FirstBad, "problem": rep.Problem, "state_head": headJSON(head),
			})
			if !rep.OK {
				return &exitError{code: 1, err: fmt.Errorf("audit log entry %d: %s", rep.FirstBad, rep.Problem)}
			}
			return nil
		},
	}
	adopt := &cobra.Command{
		Use:   "adopt --data DIR",
		Short: "give a state file from before state heads its head, once, after an upgrade (node stopped)",
		Long: "A node refuses a state file without an authenticated head. A file written by a cxt from before\n" +
			"state heads (schema 1 or 2) is adopted here: its audit log must verify and every sealed value open;\n" +
			"then its head is written. Adoption trusts the file as it is, so run it only right after the\n" +
			"upgrade: a file whose head was stripped is tampered with, not old.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			master, err := masterFor(cmd, dir, shares)
			if err != nil {
				return err
			}
			head, err := node.AdoptState(dir, master)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetIndent("", "  ")
			return out.Encode(map[string]any{"adopted": true, "state_head": headJSON(head)})
		},
	}
	for _, sub := range []*cobra.Command{verify, adopt} {
		sub.Flags().StringVar(&dir, "data", "data", "the node's data folder (the node must be stopped)")
		sub.Flags().StringArrayVar(&shares, "share", nil, "an unseal share (shares mode)")
		c.AddCommand(sub)
	}
	return c
}

func headJSON(h state.HeadReport) map[string]any {
	return map[string]any{
		"ok": h.OK, "term": h.Term, "applied": h.Applied, "audit_size": h.AuditSize,
		"audit_root": hex.EncodeToString(h.AuditRoot[:]), "problem": h.Problem,
	}
}

// masterFor reads the master key of a data folder: its key file, or shares.
func masterFor(cmd *cobra.Command, dir string, shares []string) (*keyring.MasterKey, error) {
	cfg, err := datadir.Load(dir)
	if err != nil {
		return nil, badInput("%v", err)
	}
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
