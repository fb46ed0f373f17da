package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"
)

// invoiceCmd works with invoices through the API (docs/invoices.md).
func invoiceCmd() *cobra.Command {
	c := &cobra.Command{Use: "invoice", Short: "invoices through the API: list, request, export (docs/invoices.md)"}
	c.AddCommand(invoiceListCmd(), invoiceRequestCmd(), invoiceExportCmd())
	return c
}

func invoiceListCmd() *cobra.Command {
	var api apiFlags
	var merchant, status, kind string
	c := &cobra.Command{
		Use:   "list [--data DIR | --url URL --ca CA.pem] [--merchant ID] [--status S] [--kind K]",
		Short: "list invoices, newest first (GET /api/v1/invoices); a merchant's users see their own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"merchant": merchant, "status": status, "kind": kind} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var res struct {
				Invoices []map[string]any `json:"invoices"`
			}
			if _, err := api.call(cmd.Context(), http.MethodGet, "/api/v1/invoices?"+q.Encode(), nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-13s %-6s %-9s %-12s %12s  %-20s %s\n", "INVOICE", "KIND", "STATUS", "MERCHANT", "TOTAL", "NUMBER", "REVERSES/BY")
			for _, inv := range res.Invoices {
				link := str(inv["reverses"]) + str(inv["reversed_by"])
				fmt.Fprintf(out, "%-13s %-6s %-9s %-12s %12s  %-20s %s\n", str(inv["id"]), str(inv["kind"]), str(inv["status"]),
					str(inv["merchant"]), str(inv["total"]), str(inv["number"]), link)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d invoice(s). Next: `cxt invoice export --format csv` writes what the tax-control system is to issue; "+
				"GET /api/v1/invoices/{id} shows one whole.\n", len(res.Invoices))
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&merchant, "merchant", "", "only this merchant's")
	c.Flags().StringVar(&status, "status", "", "requested, issuing, issued, delivered, reversed or cancelled")
	c.Flags().StringVar(&kind, "kind", "", "full, fee or worker")
	return c
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func invoiceRequestCmd() *cobra.Command {
	var api apiFlags
	var merchant, kind, worker, total string
	c := &cobra.Command{
		Use:   "request --merchant ID --kind full|fee|worker [--worker ID] [--total YUAN] PAYMENT...",
		Short: "ask for an invoice of a merchant's payments (POST /api/v1/merchants/{id}/invoices)",
		Long: "Kinds: full — the platform invoices a 参与经营型 merchant its payments' amounts plus fees; fee — the\n" +
			"platform invoices a 中间介绍型 merchant its fees; worker — a 代开 invoice of one worker's payments.\n" +
			"The total is computed from the payments; --total states what you expect, and a request whose\n" +
			"payments come to anything else is refused (invoice_amount_mismatch).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if merchant == "" || kind == "" {
				return badInput("give --merchant and --kind")
			}
			body := map[string]any{"kind": kind, "payments": args}
			if worker != "" {
				body["worker"] = worker
			}
			if total != "" {
				body["total"] = total
			}
			var res map[string]any
			if _, err := api.call(cmd.Context(), http.MethodPost, "/api/v1/merchants/"+url.PathEscape(merchant)+"/invoices", body, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			next := fmt.Sprintf("a platform operator lets it be issued: POST /api/v1/invoices/%v/issue", res["id"])
			if kind == "worker" {
				next = fmt.Sprintf("record the tax office's number: POST /api/v1/invoices/%v/issue {\"number\":\"…20 digits…\"}", res["id"])
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Invoice %v requested for %v. Next: %s; `cxt invoice list` follows it.\n", res["id"], res["total"], next)
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&merchant, "merchant", "", "the merchant whose payments these are")
	c.Flags().StringVar(&kind, "kind", "", "full, fee or worker")
	c.Flags().StringVar(&worker, "worker", "", "the worker of a 代开 invoice (kind worker)")
	c.Flags().StringVar(&total, "total", "", "the total you expect, in yuan (\"1234.50\")")
	return c
}

func invoiceExportCmd() *cobra.Command {
	var api apiFlags
	var merchant, format, out string
	c := &cobra.Command{
		Use:   "export [--format json|csv] [--merchant ID] [--out FILE]",
		Short: "the invoices the tax-control system is to issue (GET /api/v1/invoices/export), columns in docs/invoices.md",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "csv" {
				return badInput("--format json or csv")
			}
			q := url.Values{"format": {format}}
			if merchant != "" {
				q.Set("merchant", merchant)
			}
			_, raw, err := api.raw(cmd.Context(), http.MethodGet, "/api/v1/invoices/export?"+q.Encode(), "", nil)
			if err != nil {
				return err
			}
			if out == "" {
				cmd.OutOrStdout().Write(raw)
			} else if err := os.WriteFile(out, raw, 0o600); err != nil {
				return err
			}
			where := "standard output"
			if out != "" {
				where = out
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Wrote the export to %s. Next: import it into the tax-control system; "+
				"the issued numbers come back through the Issuer (or a 代开 one's by POST /api/v1/invoices/{id}/issue).\n", where)
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&format, "format", "json", "json or csv")
	c.Flags().StringVar(&merchant, "merchant", "", "only this merchant's")
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of standard output")
	return c
}
