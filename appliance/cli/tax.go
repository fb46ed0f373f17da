package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/tax"
)

func taxCmd() *cobra.Command {
	c := &cobra.Command{Use: "tax", Short: "withholding and agent-filing computations"}
	var text bool
	quote := &cobra.Command{
		Use:   "quote < REQUEST.json",
		Short: "compute one request read from standard input; print the result as JSON",
		Long: "Methods: labor_cumulative, labor_per_payment, labor_nonresident, business_income, vat_agent (see docs/tax.md).\n" +
			"A bad request prints {\"error\":{\"code\":\"invalid_request\",\"field\":…,\"message\":…}} and exits 2.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetEscapeHTML(false)
			req, err := tax.DecodeRequest(cmd.InOrStdin())
			var q *tax.Quote
			if err == nil {
				q, err = tax.Default().Quote(req, time.Now())
			}
			if err != nil {
				var fe *tax.FieldError
				if !errors.As(err, &fe) {
					return err
				}
				out.Encode(map[string]any{"error": map[string]string{"code": "invalid_request", "field": fe.Field, "message": fe.Message}})
				return &exitError{code: 2, err: err}
			}
			if text {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\nnext: add \"rule_set\":%q to the request to compute this again after the law changes; docs/tax.md cites every source\n", q.Text, q.RuleSet)
				return err
			}
			return out.Encode(q)
		},
	}
	quote.Flags().BoolVar(&text, "text", false, "print the breakdown as text instead of JSON")
	c.AddCommand(quote)
	return c
}
