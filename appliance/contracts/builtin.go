package contracts

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
)

//go:embed templates/*.json
var builtinFS embed.FS

// Builtin returns the templates cxt ships, version 1 of each: the
// tripartite service agreement (platform, merchant, worker) and the
// merchant–platform cooperation agreement.
func Builtin() ([]Template, error) {
	entries, err := builtinFS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, e := range entries {
		b, err := builtinFS.ReadFile(path.Join("templates", e.Name()))
		if err != nil {
			return nil, err
		}
		var t Template
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("contracts: %s: %w", e.Name(), err)
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("contracts: %s: %w", e.Name(), err)
		}
		out = append(out, t)
	}
	return out, nil
}
