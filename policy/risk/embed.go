// Package risk holds the appliance's risk rules (standard §7 风控): rego
// modules with their rego unit tests and the settings they read
// (data.json), embedded into the binary as part of the default policy
// bundle under the path "risk/". Package policy compiles and evaluates
// them; this package only carries the files.
package risk

import "embed"

// Files are the rules, their tests and their data.
//
//go:embed *.rego data.json
var Files embed.FS
