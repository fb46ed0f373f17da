package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/spf13/cobra"
)

// filingCmd files withholding declarations and records tax payments
// through the API, as a platform operator (docs/filing.md).
func filingCmd() *cobra.Command {
	c := &cobra.Command{Use: "filing", Short: "monthly withholding declarations and the tax paid against them, through the API (docs/filing.md)"}
	var f filingFlags
	declare := &cobra.Command{
		Use:   "declare --period YYYY-MM [--reason TEXT]",
		Short: "declare a month that is over: v1, or a correction (a new version; --reason required) when the payments changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]string{}
			if f.reason != "" {
				body["reason"] = f.reason
			}
			var out map[string]any
			if _, err := f.api.call(cmd.Context(), http.MethodPost, f.path("declarations"), body, &out); err != nil {
				return err
			}
			printJSON(cmd, out)
			fmt.Fprintf(cmd.ErrOrStderr(), "v%v of %s filed (due %v, late %v). Next: cxt filing export --period %s --format csv --out iit.csv; cxt filing pay --period %s once the tax is paid\n",
				out["version"], f.period, out["due"], out["late"], f.period, f.period)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list [--period YYYY-MM]",
		Short: "the periods declared, or one period's versions and what its tax payments leave unpaid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/filings/" + url.PathEscape(f.agent)
			if f.period != "" {
				path = f.path("declarations")
			}
			var out map[string]any
			if _, err := f.api.call(cmd.Context(), http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			printJSON(cmd, out)
			fmt.Fprintln(cmd.ErrOrStderr(), "Next: cxt filing export --period YYYY-MM [--version N] --format json|csv")
			return nil
		},
	}
	export := &cobra.Command{
		Use:   "export --period YYYY-MM [--form iit|vat] [--format json|csv] [--version N] [--out FILE]",
		Short: "a version's IIT withholding detail (or VAT and surcharge summary) as JSON or CSV",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.form != "iit" && f.form != "vat" {
				return badInput("--form iit or vat")
			}
			if f.format != "json" && f.format != "csv" {
				return badInput("--format json or csv")
			}
			q := url.Values{"format": {f.format}}
			if f.version > 0 {
				q.Set("version", strconv.Itoa(f.version))
			}
			_, body, err := f.api.raw(cmd.Context(), http.MethodGet, f.path(f.form)+"?"+q.Encode(), "", nil)
			if err != nil {
				return err
			}
			if f.out == "" {
				_, err = cmd.OutOrStdout().Write(body)
			} else {
				err = os.WriteFile(f.out, body, 0o600)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Next: check the totals line against `cxt filing list --period %s`; docs/filing.md gives every column\n", f.period)
			return nil
		},
	}
	var kind, amount, date, receipt, file string
	pay := &cobra.Command{
		Use:   "pay --period YYYY-MM (--kind iit|vat|surcharges --amount YUAN --date YYYY-MM-DD --receipt NO | --import FILE.csv)",
		Short: "record tax paid to the authority against the current version: one receipt, or a CSV file (kind,amount,date,receipt) whole or not at all",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out map[string]any
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return badInput("%v", err)
				}
				path := f.path("payments/import")
				if f.version > 0 {
					path += "?version=" + strconv.Itoa(f.version)
				}
				_, body, err := f.api.raw(cmd.Context(), http.MethodPost, path, "text/csv", data)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(body, &out); err != nil {
					return err
				}
			} else {
				if kind == "" || amount == "" || date == "" || receipt == "" {
					return badInput("give --kind, --amount, --date and --receipt, or --import FILE")
				}
				in := map[string]any{"kind": kind, "amount": amount, "date": date, "receipt": receipt}
				if f.version > 0 {
					in["version"] = f.version
				}
				if _, err := f.api.call(cmd.Context(), http.MethodPost, f.path("payments"), in, &out); err != nil {
					return err
				}
			}
			printJSON(cmd, out)
			fmt.Fprintf(cmd.ErrOrStderr(), "%v payment(s) recorded. Next: cxt filing list --period %s shows what is still unpaid\n", out["recorded"], f.period)
			return nil
		},
	}
	pay.Flags().StringVar(&kind, "kind", "", "iit, vat or surcharges")
	pay.Flags().StringVar(&amount, "amount", "", "yuan, at most 2 decimals")
	pay.Flags().StringVar(&date, "date", "", "the day the authority took it, YYYY-MM-DD")
	pay.Flags().StringVar(&receipt, "receipt", "", "the authority's receipt number")
	pay.Flags().StringVar(&file, "import", "", "a CSV file: kind,amount,date,receipt")
	declare.Flags().StringVar(&f.reason, "reason", "", "why a correction is filed")
	export.Flags().StringVar(&f.form, "form", "iit", "iit (扣缴申报明细) or vat (代办申报 summary)")
	export.Flags().StringVar(&f.format, "format", "json", "json or csv")
	export.Flags().StringVar(&f.out, "out", "", "write to FILE instead of standard output")
	for _, sub := range []*cobra.Command{declare, list, export, pay} {
		f.api.add(sub)
		sub.Flags().StringVar(&f.period, "period", "", "the month, YYYY-MM (China time)")
		sub.Flags().StringVar(&f.agent, "agent", "platform", "the withholding agent")
		if sub != declare && sub != list {
			sub.Flags().IntVar(&f.version, "version", 0, "a version number (default: the current one)")
		}
		if sub != list {
			sub.MarkFlagRequired("period")
		}
		c.AddCommand(sub)
	}
	return c
}

type filingFlags struct {
	api                              apiFlags
	period, agent, reason, form, out string
	format                           string
	version                          int
}

func (f *filingFlags) path(rest string) string {
	return "/api/v1/filings/" + url.PathEscape(f.agent) + "/" + url.PathEscape(f.period) + "/" + rest
}
