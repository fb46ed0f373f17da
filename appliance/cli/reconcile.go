package cli

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// reconcileCmd is `cxt reconcile`: the channel's daily statements, the
// discrepancy cases, fee checks, adjustments and merchants' files, through
// the API with the caller's session (docs/reconciliation.md).
func reconcileCmd() *cobra.Command {
	c := &cobra.Command{Use: "reconcile", Short: "reconcile payouts with the channel's statements, work discrepancy cases, adjust the books (对账, 调账)"}
	c.AddCommand(reconcileImportCmd(), reconcileListCmd(), reconcileCasesCmd(), reconcileStepCmd(), reconcileFeesCmd(), reconcileAdjustCmd(), reconcileMerchantCmd())
	return c
}

func reconcileImportCmd() *cobra.Command {
	var api apiFlags
	var ch, day string
	c := &cobra.Command{
		Use:   "import --channel NAME --day YYYY-MM-DD FILE",
		Short: "import a channel's statement of a day (a platform operator): each difference opens one case",
		Long: "Sends FILE (the statement format of docs/reconciliation.md: header, one line per payment, the\n" +
			"#END trailer with count, total and SM3) for CHANNEL's DAY. The node reconciles it against the\n" +
			"payments it handed to that channel and opens one case per difference; a malformed or repeated\n" +
			"line, a trailer that does not add up, or a file imported before refuses the file whole.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ch == "" || day == "" {
				return badInput("--channel and --day are required")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return badInput("%v", err)
			}
			q := url.Values{"channel": {ch}, "day": {day}, "name": {baseName(args[0])}}
			var res struct {
				Statement   map[string]any   `json:"statement"`
				Differences []map[string]any `json:"differences"`
			}
			if err := api.send(cmd.Context(), "POST", "/api/v1/reconcile/statements?"+q.Encode(), "text/csv", data, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "statement %v: %v lines, %v matched, %d differences. Next: `cxt reconcile cases --statement %v` lists its cases.\n",
				res.Statement["id"], res.Statement["lines"], res.Statement["matched"], len(res.Differences), res.Statement["id"])
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&ch, "channel", "", "the channel the statement is from (sandbox, a file bank's name)")
	c.Flags().StringVar(&day, "day", "", "the statement's day, YYYY-MM-DD")
	return c
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func reconcileListCmd() *cobra.Command {
	var api apiFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "the statements reconciled, with their tallies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res map[string]any
			if err := api.send(cmd.Context(), "GET", "/api/v1/reconcile/statements", "", nil, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintln(cmd.ErrOrStderr(), "Next: `cxt reconcile cases` lists the cases still open.")
			return nil
		},
	}
	api.add(c)
	return c
}

func reconcileCasesCmd() *cobra.Command {
	var api apiFlags
	var status, statement, class string
	c := &cobra.Command{
		Use:   "cases [--status open|investigating|resolved|closed|all] [--statement ID] [--class CLASS]",
		Short: "the discrepancy cases, by default those open or under investigation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "statement": statement, "class": class} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var res struct {
				Cases []map[string]any `json:"cases"`
			}
			if err := api.send(cmd.Context(), "GET", "/api/v1/reconcile/cases?"+q.Encode(), "", nil, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "%d case(s). Next: `cxt reconcile step CASE investigate|resolve|close --note TEXT`, or `cxt reconcile adjust propose --case CASE ...`.\n", len(res.Cases))
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&status, "status", "", "open, investigating, resolved, closed or all")
	c.Flags().StringVar(&statement, "statement", "", "the cases of one statement")
	c.Flags().StringVar(&class, "class", "", "missing_platform, amount, status, date, missing_channel or fee")
	return c
}

func reconcileStepCmd() *cobra.Command {
	var api apiFlags
	var note string
	c := &cobra.Command{
		Use:   "step CASE investigate|resolve|close [--note TEXT]",
		Short: "take a case up, or resolve or close it with an explanation",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res map[string]any
			if err := api.send(cmd.Context(), "POST", "/api/v1/reconcile/cases/"+url.PathEscape(args[0])+"/steps", "application/json",
				map[string]string{"action": args[1], "note": note}, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "case %s is %v. Next: `cxt reconcile cases` for the rest.\n", args[0], res["status"])
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&note, "note", "", "what was found; required to resolve or close")
	return c
}

func reconcileFeesCmd() *cobra.Command {
	var api apiFlags
	var period, merchant string
	c := &cobra.Command{
		Use:   "fees --period YYYY-MM [--merchant ID]",
		Short: "check every live payment's service fee of a month against the billing rules; each difference opens one case",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res map[string]any
			if err := api.send(cmd.Context(), "POST", "/api/v1/reconcile/fee-checks", "application/json",
				map[string]string{"period": period, "merchant": merchant}, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Next: `cxt reconcile cases --class fee`.\n")
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&period, "period", "", "the month, YYYY-MM")
	c.Flags().StringVar(&merchant, "merchant", "", "one merchant (default: all)")
	return c
}

func reconcileAdjustCmd() *cobra.Command {
	c := &cobra.Command{Use: "adjust", Short: "adjustments (调账): a platform operator proposes, a platform reviewer decides"}
	var api apiFlags
	var caseID, reason string
	var debits, credits []string
	propose := &cobra.Command{
		Use:   "propose --case CASE --reason TEXT --debit ACCOUNT=YUAN ... --credit ACCOUNT=YUAN ...",
		Short: "propose a balanced posting resolving a case (the maker)",
		Long: "Accounts: bank, fee-income, suspense, merchant/<id>/available. Worker payable, the channels'\n" +
			"clearing accounts and the tax payables are refused: their detail is the payments.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type line struct {
				Account string `json:"account"`
				Side    string `json:"side"`
				Amount  string `json:"amount"`
			}
			var lines []line
			for side, list := range map[string][]string{"debit": debits, "credit": credits} {
				for _, s := range list {
					acct, amount, ok := strings.Cut(s, "=")
					if !ok {
						return badInput("--%s %q: ACCOUNT=YUAN, such as bank=12.00", side, s)
					}
					lines = append(lines, line{acct, side, amount})
				}
			}
			var res map[string]any
			if err := api.send(cmd.Context(), "POST", "/api/v1/reconcile/adjustments", "application/json",
				map[string]any{"case": caseID, "reason": reason, "lines": lines}, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "adjustment %v waits for a platform reviewer. Next (another person): `cxt reconcile adjust decide %v --approve`.\n", res["id"], res["id"])
			return nil
		},
	}
	api.add(propose)
	propose.Flags().StringVar(&caseID, "case", "", "the case it resolves")
	propose.Flags().StringVar(&reason, "reason", "", "why")
	propose.Flags().StringArrayVar(&debits, "debit", nil, "ACCOUNT=YUAN, a debit line (repeat)")
	propose.Flags().StringArrayVar(&credits, "credit", nil, "ACCOUNT=YUAN, a credit line (repeat)")

	var dapi apiFlags
	var approve, reject bool
	var note, key, confirm string
	decide := &cobra.Command{
		Use:   "decide ADJUSTMENT --approve|--reject [--note TEXT] [--key KEY --confirm TOKEN]",
		Short: "approve (one ledger posting) or reject an adjustment (a platform reviewer, never its maker; important operation)",
		Long: "Without --confirm it prints the preview (the posting it would make) and a confirm token; run it\n" +
			"again with --key and --confirm within 5 minutes. The session needs a recent step-up.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if approve == reject {
				return badInput("--approve or --reject")
			}
			decision := map[bool]string{true: "approve", false: "reject"}[approve]
			return dapi.important(cmd, "POST", "/api/v1/reconcile/adjustments/"+url.PathEscape(args[0])+"/decision", key, confirm,
				map[string]string{"decision": decision, "note": note}, "adjustment "+args[0])
		},
	}
	dapi.add(decide)
	decide.Flags().BoolVar(&approve, "approve", false, "approve: the posting is made and the case resolved")
	decide.Flags().BoolVar(&reject, "reject", false, "reject: the case waits for another proposal (--note says why)")
	decide.Flags().StringVar(&note, "note", "", "the checker's note")
	decide.Flags().StringVar(&key, "key", "", "the Idempotency-Key the preview printed")
	decide.Flags().StringVar(&confirm, "confirm", "", "the confirm token the preview printed")
	c.AddCommand(propose, decide)
	return c
}

func reconcileMerchantCmd() *cobra.Command {
	var api apiFlags
	var merchant, period, out string
	c := &cobra.Command{
		Use:   "merchant-file --merchant ID --period YYYY-MM[-DD] [--out FILE]",
		Short: "a merchant's reconciliation file (商户对账单) as CSV: its own users see only theirs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if merchant == "" || period == "" {
				return badInput("--merchant and --period are required")
			}
			var body []byte
			q := url.Values{"period": {period}, "format": {"csv"}}
			if err := api.send(cmd.Context(), "GET", "/api/v1/merchants/"+url.PathEscape(merchant)+"/reconciliation?"+q.Encode(), "", nil, &body); err != nil {
				return err
			}
			if out == "" {
				cmd.OutOrStdout().Write(body)
				return nil
			}
			if err := os.WriteFile(out, body, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes). Next: its #TOTAL line holds the debits, the credits and the closing balance.\n", out, len(body))
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&merchant, "merchant", "", "the merchant's ID")
	c.Flags().StringVar(&period, "period", "", "a month YYYY-MM or a day YYYY-MM-DD (China)")
	c.Flags().StringVar(&out, "out", "", "write the file here instead of standard output")
	return c
}
