// Command cxt is the 诚薪通 appliance: one binary that initialises, joins,
// unseals and serves a node, and carries the operator's tools.
package main

import (
	"os"

	"cxt/appliance/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
