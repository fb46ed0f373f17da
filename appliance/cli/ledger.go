package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"cxt/appliance/node"
)

func ledgerCmd() *cobra.Command {
	c := &cobra.Command{Use: "ledger", Short: "the double-entry ledger of the money the platform holds"}
	var dir string
	var shares []string
	verify := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "check a stopped node's books offline; exit 0 when every invariant holds, 1 when any fails",
		Long: "Rebuilds every account's balance from the postings alone, in order, and checks that each posting\n" +
			"balances, that no balance ever went below zero and that the balances the state keeps are the rebuilt\n" +
			"ones; then holds the payments against the books: each in one known status, worker payable, the\n" +
			"channels' clearing accounts, the tax payables (less the tax paid) and fee income equal to what the payments where they\n" +
			"are say, each merchant's balance its top-ups and adjustments less its live payments, every booked payment traceable\n" +
			"to its posting, task and agreement, the outbox holding exactly the accepted payments, each tax\n" +
			"payment to the authority (filing.pay: tax account debited, bank credited) matched to its record,\n" +
			"no adjustment (调账) on an account whose balance is other records' detail (the payments, the suspense\n" +
			"items, the bank debited), and suspense holding exactly its open items, every posting moving it an item's.\n" +
			"Prints JSON {ok, postings, accounts, payments, problems}. The master key comes as for `cxt audit verify`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			master, err := masterFor(cmd, dir, shares)
			if err != nil {
				return err
			}
			rep, err := node.VerifyLedger(dir, master)
			if err != nil {
				return err
			}
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetIndent("", "  ")
			out.Encode(rep)
			if !rep.OK {
				return &exitError{code: 1, err: fmt.Errorf("the books do not hold: %d problem(s), the first: %s", len(rep.Problems), rep.Problems[0])}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "the books hold: %d postings over %d accounts, %d payments. Next: `cxt audit verify --data %s` checks the audit log the same way.\n",
				rep.Postings, rep.Accounts, rep.Payments, dir)
			return nil
		},
	}
	verify.Flags().StringVar(&dir, "data", "data", "the node's data folder (the node must be stopped)")
	verify.Flags().StringArrayVar(&shares, "share", nil, "an unseal share (shares mode)")
	c.AddCommand(verify)
	return c
}
