package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"cxt/appliance/version"
)

func versionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "print the version, commit and Go toolchain of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			i := version.Get()
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(i)
			}
			modified := ""
			if i.Modified {
				modified = " (modified)"
			}
			fmt.Fprintf(out, "cxt %s\ncommit %s%s\n%s %s\n", i.Version, i.Commit, modified, i.Go, i.Platform)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return c
}
