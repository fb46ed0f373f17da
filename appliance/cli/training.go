package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// trainingCmd works with business training through the API
// (docs/training.md).
func trainingCmd() *cobra.Command {
	c := &cobra.Command{Use: "training", Short: "business training through the API: courses, certificates (docs/training.md)"}
	c.AddCommand(trainingCoursesCmd(), trainingCertificateCmd())
	return c
}

func trainingCoursesCmd() *cobra.Command {
	var api apiFlags
	var status, category string
	c := &cobra.Command{
		Use:   "courses [--data DIR | --url URL --ca CA.pem] [--status S] [--category C]",
		Short: "list the courses (GET /api/v1/training/courses): tenants see the published ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "category": category} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var res struct {
				Courses []map[string]any `json:"courses"`
			}
			if _, err := api.call(cmd.Context(), http.MethodGet, "/api/v1/training/courses?"+q.Encode(), nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-24s %-9s %-14s %4s  %s\n", "COURSE", "STATUS", "CATEGORY", "PASS", "TITLE")
			for _, c := range res.Courses {
				fmt.Fprintf(out, "%-24s %-9s %-14s %4v  %s\n", str(c["id"]), str(c["status"]), str(c["category"]), c["pass_mark"], str(c["title"]))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d course(s). Next: enrol a worker with POST /api/v1/training/courses/{course}/enrolments {\"worker\":\"w_…\"}; "+
				"once a result is recorded, `cxt training certificate --course C --worker W` downloads the certificate.\n", len(res.Courses))
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&status, "status", "", "draft, published or retired")
	c.Flags().StringVar(&category, "category", "", "a task category: courses of it or required for it")
	return c
}

func trainingCertificateCmd() *cobra.Command {
	var api apiFlags
	var course, worker, out string
	c := &cobra.Command{
		Use:   "certificate --course C --worker W [--out FILE.zip]",
		Short: "download a worker's completion certificate, a signed zip (GET …/enrolments/{worker}/certificate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if course == "" || worker == "" {
				return badInput("give --course and --worker")
			}
			if out == "" {
				out = "training-" + course + "-" + worker + ".zip"
			}
			path := "/api/v1/training/courses/" + url.PathEscape(course) + "/enrolments/" + url.PathEscape(worker) + "/certificate"
			_, raw, err := api.raw(cmd.Context(), http.MethodGet, path, "", nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, raw, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Wrote %s. Next: unzip it and run the OpenSSL lines of its README.txt "+
				"(docs/training.md); the last prints \"Verified OK\".\n", out)
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&course, "course", "", "the course's ID")
	c.Flags().StringVar(&worker, "worker", "", "the worker's ID")
	c.Flags().StringVar(&out, "out", "", "the file to write (default training-COURSE-WORKER.zip)")
	return c
}

// insuranceCmd works with insurance through the API (docs/training.md).
func insuranceCmd() *cobra.Command {
	c := &cobra.Command{Use: "insurance", Short: "insurance through the API: recommendations, social-insurance imports (docs/training.md)"}
	c.AddCommand(insuranceRecommendCmd(), insuranceImportCmd())
	return c
}

func insuranceRecommendCmd() *cobra.Command {
	var api apiFlags
	var task, on string
	c := &cobra.Command{
		Use:   "recommend [--task T] [--on YYYY-MM-DD] WORKER",
		Short: "the products the rules recommend to a worker, and why (GET /api/v1/workers/{id}/insurance/recommendations)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"task": task, "on": on} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var res struct {
				Version int `json:"rules_version"`
				Recs    []struct {
					Product map[string]any `json:"product"`
					Rules   []struct {
						Rule, Why string
					} `json:"rules"`
				} `json:"recommendations"`
				Skips []struct {
					Rule, Product, Reason string
				} `json:"not_applied"`
			}
			path := "/api/v1/workers/" + url.PathEscape(args[0]) + "/insurance/recommendations?" + q.Encode()
			if _, err := api.call(cmd.Context(), http.MethodGet, path, nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, r := range res.Recs {
				fmt.Fprintf(out, "%s  %s (%s, %s yuan per %s)\n", str(r.Product["id"]), str(r.Product["name"]), str(r.Product["kind"]), str(r.Product["premium"]), str(r.Product["term"]))
				for _, m := range r.Rules {
					fmt.Fprintf(out, "    rule %s: %s\n", m.Rule, m.Why)
				}
			}
			for _, s := range res.Skips {
				fmt.Fprintf(out, "not applied: rule %s %s— %s\n", s.Rule, strings.TrimSpace(s.Product+" "), s.Reason)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d product(s) recommended by rules version %d. Next: enrol with POST /api/v1/insurance/enrolments "+
				"{\"product\",\"worker\",\"start\",\"units\"}.\n", len(res.Recs), res.Version)
			return nil
		},
	}
	api.add(c)
	c.Flags().StringVar(&task, "task", "", "a task whose category counts too")
	c.Flags().StringVar(&on, "on", "", "the day the age is computed on (default today)")
	return c
}

func insuranceImportCmd() *cobra.Command {
	var api apiFlags
	c := &cobra.Command{
		Use:   "import-social FILE.csv",
		Short: "record social-insurance payments from a CSV, whole or not at all (POST /api/v1/insurance/social-payments/import)",
		Long:  "The header is worker,month,place,base,pension,medical,unemployment,injury; amounts in yuan with at most\ntwo decimals. One bad line refuses the file and names the lines; nothing of it is recorded.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := os.ReadFile(args[0])
			if err != nil {
				return badInput("%v", err)
			}
			var res map[string]any
			if err := api.send(cmd.Context(), http.MethodPost, "/api/v1/insurance/social-payments/import", "text/csv", file, &res); err != nil {
				return fmt.Errorf("%w\nNothing of %s was recorded: correct the lines named and import the whole file again", err, args[0])
			}
			printJSON(cmd, res)
			fmt.Fprintf(cmd.ErrOrStderr(), "Recorded %v payment(s) of %v worker(s), %v yuan, as batch %v. Next: GET /api/v1/workers/{id}/insurance shows a worker's records.\n",
				res["payments"], res["workers"], res["total"], res["batch"])
			return nil
		},
	}
	api.add(c)
	return c
}
