package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"cxt/crypto/sm"
	"cxt/policy"
)

// testTimeout bounds each rego test run by "cxt policy test", as the API
// bounds them.
const testTimeout = 5 * time.Second

func policyCmd() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "signed policy bundles: export, test, evaluate, sign, verify, push (docs/operations.md)"}
	c.AddCommand(policyExportCmd(), policyTestCmd(), policyEvalCmd(), policyDigestCmd(), policySignCmd(), policyVerifyCmd(), policyPushCmd(), policyRollbackCmd())
	return c
}

// readBundle reads DIR as a bundle; a directory that is not one is bad input.
func readBundle(dir string) (policy.Files, []byte, error) {
	f, sig, err := policy.ReadDir(dir)
	if err != nil {
		return nil, nil, badInput("%s is not a policy bundle: %v", dir, err)
	}
	return f, sig, nil
}

func policyTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test DIR",
		Short: "run the bundle's rego tests (*_test.rego) as every node will: exit 0 all pass, 1 any fails",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := readBundle(args[0])
			if err != nil {
				return err
			}
			results, err := policy.RunTests(cmd.Context(), f, testTimeout)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("the tests cannot run: %v", err)}
			}
			out := cmd.OutOrStdout()
			for _, r := range results {
				verdict := "PASS"
				if !r.Pass {
					verdict = "FAIL"
				}
				fmt.Fprintf(out, "%s  %s  (%s)", verdict, r.Name, r.File)
				if r.Error != "" {
					fmt.Fprintf(out, ": %s", r.Error)
				}
				fmt.Fprintln(out)
			}
			if failed := policy.Failed(results); len(failed) > 0 {
				fmt.Fprintf(out, "%d of %d tests fail: a node refuses this bundle (bundle_tests_fail). Fix the rules or the tests and run this again.\n", len(failed), len(results))
				return &exitError{code: 1, err: fmt.Errorf("%d tests fail", len(failed))}
			}
			fmt.Fprintf(out, "All %d tests pass. Next: cxt policy sign --key KEY.pem %s\n", len(results), args[0])
			return nil
		},
	}
}

// payoutQuery is the payout rules' decision (docs/risk.md).
const payoutQuery = "data.cxt.risk.payout.decision"

func policyEvalCmd() *cobra.Command {
	var inputPath, query string
	c := &cobra.Command{
		Use:   "eval --input FILE [--query QUERY] DIR",
		Short: "answer one decision: evaluate QUERY against the bundle with the JSON input; exit 1 when undefined",
		Long: "Evaluates QUERY (default data.cxt.risk.payout.decision) with the bundle's rules and data and the\n" +
			"JSON object in FILE ('-' reads standard input) as input, and prints the value as JSON. A query\n" +
			"the rules give no value — most often an input field they read is missing — is undefined: said so,\n" +
			"exit 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := readBundle(args[0])
			if err != nil {
				return err
			}
			b, err := f.Bundle()
			if err != nil {
				return badInput("%v", err)
			}
			raw, err := readInput(cmd, inputPath)
			if err != nil {
				return err
			}
			var input any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&input); err != nil {
				return badInput("%s: the input is not JSON: %v", inputPath, err)
			}
			// A payout row must have every field: the rules' default is to
			// allow, and a rule reading a missing field would not fire.
			var row policy.PayoutRow
			if query == payoutQuery {
				if err := row.UnmarshalJSON(raw); err != nil {
					return badInput("%s: %v", inputPath, err)
				}
			}
			v, defined, err := policy.Eval(cmd.Context(), b, query, input)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			out := cmd.OutOrStdout()
			if !defined {
				fmt.Fprintf(out, "undefined: the bundle gives %s no value for this input. Check that the input has every field the rules read, and the query's name.\n", query)
				return &exitError{code: 1, err: fmt.Errorf("%s is undefined", query)}
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				return err
			}
			if query == payoutQuery {
				fmt.Fprintf(cmd.ErrOrStderr(), "input_sm3: %s (the canonical input's SM3, as a payment's risk decision records it)\n", row.InputSM3())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Next: cxt policy test %s runs the bundle's tests; GET /api/v1/payments/{id}/risk shows a payment's recorded input to replay\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&inputPath, "input", "", "the input, a JSON file ('-': standard input)")
	c.Flags().StringVar(&query, "query", payoutQuery, "the rego query")
	c.MarkFlagRequired("input")
	return c
}

func policyDigestCmd() *cobra.Command {
	var outPath string
	c := &cobra.Command{
		Use:   "digest DIR [--out FILE]",
		Short: "print the bundle's SM3 digest, and write its 32 bytes to FILE for OpenSSL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, _, err := readBundle(args[0])
			if err != nil {
				return err
			}
			d := f.Digest()
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(d[:]))
			if outPath == "" {
				return nil
			}
			if err := os.WriteFile(outPath, d[:], 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Wrote the 32-byte digest to %s. Check the signature with OpenSSL 3:\n"+
				"  openssl dgst -sm3 -sigopt %s -verify PUB.pem -signature %s %s\n",
				outPath, sm.DistID, filepath.Join(args[0], policy.SignatureFile), outPath)
			return nil
		},
	}
	c.Flags().StringVar(&outPath, "out", "", "write the 32 bytes of the digest here")
	return c
}

func policySignCmd() *cobra.Command {
	var keyPath string
	c := &cobra.Command{
		Use:   "sign --key KEY.pem DIR",
		Short: "sign the bundle: write DIR/bundle.sig, the DER SM2 signature of its digest",
		Long: "KEY.pem is the SM2 private key (PKCS#8 or SEC1 PEM, as OpenSSL writes it) whose public key the\n" +
			"signing security administrator enrolled (POST /api/v1/me/mfa/sm2). Signs the SM3 digest of\n" +
			"the bundle's canonical form (docs/security.md) with the default user ID 1234567812345678.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemKey, err := os.ReadFile(keyPath)
			if err != nil {
				return badInput("read key: %v", err)
			}
			key, err := sm.ParsePrivateKeyPEM(pemKey)
			if err != nil {
				return badInput("%s: %v", keyPath, err)
			}
			f, _, err := readBundle(args[0])
			if err != nil {
				return err
			}
			sig, err := policy.Sign(key, f)
			if err != nil {
				return err
			}
			sigPath := filepath.Join(args[0], policy.SignatureFile)
			if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
				return err
			}
			d := f.Digest()
			v, _ := f.Version()
			fmt.Fprintf(cmd.OutOrStdout(), "Signed %s version %s (sm3 %s) into %s.\n"+
				"Next: cxt policy verify --pub PUB.pem %s, then cxt policy push %s; any change to a file needs a new signature.\n",
				args[0], v, hex.EncodeToString(d[:]), sigPath, args[0], args[0])
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "SM2 private key (PEM)")
	c.MarkFlagRequired("key")
	return c
}

func policyVerifyCmd() *cobra.Command {
	var pubPath string
	c := &cobra.Command{
		Use:   "verify --pub PUB.pem DIR",
		Short: "check DIR/bundle.sig against the files: exit 0 valid, 1 not (with the reason), 2 bad input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := os.ReadFile(pubPath)
			if err != nil {
				return badInput("read public key: %v", err)
			}
			if _, err := sm.ParsePublicKeyPEM(pub); err != nil {
				return badInput("%s: %v", pubPath, err)
			}
			f, sig, err := readBundle(args[0])
			if err != nil {
				return err
			}
			if sig == nil {
				return &exitError{code: 1, err: fmt.Errorf("%s has no %s: sign it with cxt policy sign --key KEY.pem %s", args[0], policy.SignatureFile, args[0])}
			}
			if err := policy.VerifySignature(string(pub), f, sig); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("not valid: %v", rejectionMessage(err))}
			}
			d := f.Digest()
			fmt.Fprintf(cmd.OutOrStdout(), "Verified OK: sm3 %s. Next: cxt policy test %s, then cxt policy push %s.\n", hex.EncodeToString(d[:]), args[0], args[0])
			return nil
		},
	}
	c.Flags().StringVar(&pubPath, "pub", "", "the signer's SM2 public key or certificate (PEM)")
	c.MarkFlagRequired("pub")
	return c
}

// rejectionMessage is a state rejection's message without its code.
func rejectionMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i > 0 && !strings.Contains(s[:i], " ") {
		return s[i+2:]
	}
	return s
}

// apiFlags reach a node's API: its data folder on this machine (address
// and certificate), or a URL and the CA that signed its certificate; and
// the caller's session token.
type apiFlags struct {
	data, url, ca, token string
}

func (a *apiFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&a.data, "data", "", "the node's data folder on this machine (its API address and certificate)")
	c.Flags().StringVar(&a.url, "url", "", "the API's URL, https://HOST:PORT (instead of --data)")
	c.Flags().StringVar(&a.ca, "ca", "", "the CA certificate (PEM) the API's certificate is checked against, with --url")
	c.Flags().StringVar(&a.token, "token", "", "your session token (default $CXT_TOKEN)")
}

func (a *apiFlags) set() bool { return a.data != "" || a.url != "" }

func policyExportCmd() *cobra.Command {
	var api apiFlags
	c := &cobra.Command{
		Use:   "export [--data DIR | --url URL --ca CA.pem] OUT",
		Short: "write a bundle to OUT to start from: the one built into cxt, or the node's in force",
		Long: "Without --data or --url, writes the bundle built into this cxt (version \"embedded\"). With them,\n" +
			"fetches the bundle in force from GET /api/v1/policy (a security or audit administrator's session:\n" +
			"--token or $CXT_TOKEN) with its signature. OUT must not exist or be empty.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, sig := policy.DefaultFiles(), []byte(nil)
			if api.set() {
				var got struct {
					Files     policy.Files `json:"files"`
					Signature string       `json:"signature"`
					Version   string       `json:"version"`
				}
				if _, err := api.call(cmd.Context(), http.MethodGet, "/api/v1/policy", nil, &got); err != nil {
					return err
				}
				if got.Files == nil {
					return fmt.Errorf("the policy in force (%s) predates signed bundles and has no files: export the built-in one instead (no --data/--url)", got.Version)
				}
				f = got.Files
				if got.Signature != "" {
					sig, _ = base64.StdEncoding.DecodeString(got.Signature)
				}
			}
			if err := policy.WriteDir(args[0], f, sig); err != nil {
				return badInput("%v", err)
			}
			v, _ := f.Version()
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote policy %s (%d files) to %s.\n"+
				"Next: edit it, give %s a new version, then cxt policy test %s and cxt policy sign --key KEY.pem %s.\n",
				v, len(f), args[0], filepath.Join(args[0], policy.ManifestFile), args[0], args[0])
			return nil
		},
	}
	api.add(c)
	return c
}

// important runs an important operation: without confirm, it asks for the
// preview and prints it with the confirm token; with it, it confirms.
func (a *apiFlags) important(cmd *cobra.Command, method, path, key, confirm string, body any, what string) error {
	out := cmd.OutOrStdout()
	if confirm != "" && key == "" {
		return badInput("--confirm needs the --key the preview printed")
	}
	if key == "" {
		raw := make([]byte, 12)
		rand.Read(raw)
		key = hex.EncodeToString(raw)
	}
	headers := []string{"Idempotency-Key", key}
	if confirm != "" {
		headers = append(headers, "X-Confirm-Token", confirm)
	}
	var res map[string]any
	status, err := a.call(cmd.Context(), method, path, body, &res, headers...)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if confirm == "" {
		enc.Encode(res["preview"])
		fmt.Fprintf(out, "\nThis is a preview; nothing has changed. Read the permission and text diffs above, then confirm\n"+
			"within 5 minutes by running the same command with --key %s --confirm %v\n", key, res["confirm_token"])
		return nil
	}
	enc.Encode(res)
	if status == http.StatusAccepted {
		approval, _ := res["approval"].(map[string]any)
		fmt.Fprintf(out, "\n%s waits for a second administrator of another duty: they approve it with\n"+
			"POST /api/v1/approvals/%v/approve. Then check: GET /api/v1/policy.\n", what, approval["id"])
		return nil
	}
	fmt.Fprintf(out, "\n%s is done on every node. Check: GET /api/v1/policy and /api/v1/policy/history.\n", what)
	return nil
}

func policyPushCmd() *cobra.Command {
	var api apiFlags
	var confirm, key string
	c := &cobra.Command{
		Use:   "push [--data DIR | --url URL --ca CA.pem] [--key KEY --confirm TOKEN] BUNDLE",
		Short: "propose the signed bundle to the cluster (PUT /api/v1/policy): preview first, then --confirm",
		Long: "Sends BUNDLE's files and bundle.sig with your session (--token or $CXT_TOKEN: a security\n" +
			"administrator's, stepped up). The first run prints the preview — signer, tests, permission and text\n" +
			"diffs, decisions of the last 30 days it would change — and a confirm token; run again with\n" +
			"--confirm TOKEN to propose it. A second administrator then approves it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, sig, err := readBundle(args[0])
			if err != nil {
				return err
			}
			if sig == nil {
				return badInput("%s has no %s: sign it first with cxt policy sign --key KEY.pem %s", args[0], policy.SignatureFile, args[0])
			}
			d := f.Digest()
			body := map[string]any{"files": f, "signature": base64.StdEncoding.EncodeToString(sig)}
			v, _ := f.Version()
			return api.important(cmd, http.MethodPut, "/api/v1/policy", key, confirm, body, "Policy "+v+" (sm3 "+hex.EncodeToString(d[:])+")")
		},
	}
	api.add(c)
	c.Flags().StringVar(&confirm, "confirm", "", "the confirm token of the preview")
	c.Flags().StringVar(&key, "key", "", "the Idempotency-Key the preview printed (with --confirm)")
	return c
}

func policyRollbackCmd() *cobra.Command {
	var api apiFlags
	var confirm, key string
	c := &cobra.Command{
		Use:   "rollback [--data DIR | --url URL --ca CA.pem] [--key KEY --confirm TOKEN] VERSION",
		Short: "put a bundle that was in force before back (POST /api/v1/policy/rollback): preview, then --confirm",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return api.important(cmd, http.MethodPost, "/api/v1/policy/rollback", key, confirm, map[string]string{"version": args[0]}, "The rollback to "+args[0])
		},
	}
	api.add(c)
	c.Flags().StringVar(&confirm, "confirm", "", "the confirm token of the preview")
	c.Flags().StringVar(&key, "key", "", "the Idempotency-Key the preview printed (with --confirm)")
	return c
}
