package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"
)

// privacyCmd works with workers' personal-information rights through the
// API (docs/privacy.md).
func privacyCmd() *cobra.Command {
	c := &cobra.Command{Use: "privacy", Short: "personal-information rights through the API: requests, decisions, a worker's export (docs/privacy.md)"}
	c.AddCommand(privacyRequestsCmd(), privacyDecideCmd(), privacyExportCmd(), privacyFileCmd())
	return c
}

func privacyRequestsCmd() *cobra.Command {
	var api apiFlags
	var overdue bool
	var status, worker string
	c := &cobra.Command{
		Use:   "requests [--data DIR | --url URL --ca CA.pem] [--overdue] [--status S] [--worker ID]",
		Short: "list privacy requests, oldest due first (platform staff: GET /api/v1/privacy-requests; a worker: --worker themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/privacy-requests?"
			if worker != "" {
				path = "/api/v1/workers/" + url.PathEscape(worker) + "/privacy-requests?"
			}
			q := url.Values{}
			if overdue {
				q.Set("overdue", "1")
			}
			if status != "" {
				q.Set("status", status)
			}
			var res struct {
				Requests []map[string]any `json:"requests"`
				Overdue  int              `json:"overdue"`
			}
			if _, err := api.call(cmd.Context(), http.MethodGet, path+q.Encode(), nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-24s %-26s %-10s %-10s %-25s %s\n", "REQUEST", "WORKER", "KIND", "STATUS", "DUE", "OVERDUE")
			for _, r := range res.Requests {
				late := ""
				if r["overdue"] == true {
					late = "OVERDUE"
				}
				fmt.Fprintf(out, "%-24s %-26s %-10s %-10s %-25s %s\n", str(r["id"]), str(r["worker"]), str(r["kind"]), str(r["status"]), str(r["due"]), late)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d request(s), %d overdue. Next: decide the oldest first with "+
				"`cxt privacy decide REQUEST --apply` or `--refuse REASON`; the law gives 30 days.\n", len(res.Requests), res.Overdue)
			return nil
		},
	}
	api.add(c)
	c.Flags().BoolVar(&overdue, "overdue", false, "only those still open past their due date")
	c.Flags().StringVar(&status, "status", "", "open, done, refused, restricted or erasing")
	c.Flags().StringVar(&worker, "worker", "", "one worker's requests")
	return c
}

func privacyDecideCmd() *cobra.Command {
	var api apiFlags
	var apply bool
	var refuse string
	c := &cobra.Command{
		Use:   "decide REQUEST (--apply | --refuse REASON) [--data DIR | --url URL --ca CA.pem]",
		Short: "apply or refuse a privacy request (a platform operator: POST /api/v1/privacy-requests/{req}/decide)",
		Long: "A correction applied changes the worker's sealed record. A deletion applied is restricted while a\n" +
			"legal retention holds the data (the answer explains the basis and the date to the person, in\n" +
			"Chinese and English), or erasing until the archives' destruction completes it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apply == (refuse != "") {
				return badInput("give --apply or --refuse REASON")
			}
			body := map[string]string{"outcome": "apply"}
			if refuse != "" {
				body = map[string]string{"outcome": "refuse", "reason": refuse}
			}
			var res map[string]any
			if _, err := api.call(cmd.Context(), http.MethodPost, "/api/v1/privacy-requests/"+url.PathEscape(args[0])+"/decide", body, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Request %v is %v. Next: %v\n", res["id"], res["status"], res["next"])
			return nil
		},
	}
	api.add(c)
	c.Flags().BoolVar(&apply, "apply", false, "apply the request")
	c.Flags().StringVar(&refuse, "refuse", "", "refuse it, saying why (the person reads it)")
	return c
}

func privacyExportCmd() *cobra.Command {
	var api apiFlags
	var out string
	c := &cobra.Command{
		Use:   "export WORKER --out FILE [--data DIR | --url URL --ca CA.pem]",
		Short: "write a worker's own copy of their data to FILE (the worker's session: GET /api/v1/workers/{id}/export)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return badInput("give --out FILE: the export holds the ID number and bank card in full")
			}
			var res map[string]any
			if _, err := api.call(cmd.Context(), http.MethodGet, "/api/v1/workers/"+url.PathEscape(args[0])+"/export", nil, &res); err != nil {
				return err
			}
			b, _ := json.MarshalIndent(res, "", "  ")
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return badInput("%v", err)
			}
			if _, err := f.Write(append(b, '\n')); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Wrote %s (mode 0600). Next: keep it safe; to correct or delete, `cxt privacy file %s`.\n", out, args[0])
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&out, "out", "", "the file to write (must not exist)")
	return c
}

func privacyFileCmd() *cobra.Command {
	var api apiFlags
	var del bool
	var name, card string
	c := &cobra.Command{
		Use:   "file WORKER (--delete | [--name NAME] [--bank-card NUMBER]) [--data DIR | --url URL --ca CA.pem]",
		Short: "file a correction or deletion request (the worker's session: POST /api/v1/workers/{id}/privacy-requests)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]string{"kind": "deletion"}
			switch {
			case del && (name != "" || card != ""):
				return badInput("a deletion names no fields: give --delete alone")
			case !del && name == "" && card == "":
				return badInput("give --delete, or --name and/or --bank-card to correct")
			case !del:
				body = map[string]string{"kind": "correction"}
				if name != "" {
					body["name"] = name
				}
				if card != "" {
					body["bank_card"] = card
				}
			}
			var res map[string]any
			if _, err := api.call(cmd.Context(), http.MethodPost, "/api/v1/workers/"+url.PathEscape(args[0])+"/privacy-requests", body, &res); err != nil {
				return err
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Request %v filed. Next: %v\n", res["id"], res["next"])
			return nil
		},
	}
	api.add(c)
	c.Flags().BoolVar(&del, "delete", false, "ask for your data to be deleted")
	c.Flags().StringVar(&name, "name", "", "your correct name, as on your ID card")
	c.Flags().StringVar(&card, "bank-card", "", "your correct bank card number")
	return c
}
