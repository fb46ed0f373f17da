// Package cli is the cxt command line: thin cobra commands over the
// appliance packages. Exit status: 0 success, 1 failure, 2 bad input (and
// for "crypto verify": 1 means the signature is invalid).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func badInput(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// Main runs the command line and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainContext(context.Background(), args, stdin, stdout, stderr)
}

// MainContext is Main under ctx: a serving command (serve, demo) stops
// when ctx ends, as on an interrupt.
func MainContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "cxt",
		Short:         "诚薪通 — the compliance appliance for flexible-employment platforms",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\n%s", err, c.UsageString())}
	})
	root.AddCommand(initCmd(), serveCmd(), joinCmd(), unsealCmd(), statusCmd(), clusterCmd(), cryptoCmd(), taxCmd(), auditCmd(), ledgerCmd(), filingCmd(), gatewayCmd(), versionCmd(), operatorCmd(), demoCmd(), checkCmd(), policyCmd(), reconcileCmd(), invoiceCmd(), trainingCmd(), insuranceCmd(), privacyCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "cxt:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

// isUsage recognises cobra's own argument errors.
func isUsage(err error) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "required flag"} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}
