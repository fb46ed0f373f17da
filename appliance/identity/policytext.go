package identity

import (
	"encoding/json"
	"slices"
	"strings"

	"cxt/policy"
)

// A permission diff is an enumeration — every account, action, label and
// second factor — and a rule can key on anything else (the resource, a
// request detail): such a change shows in no enumeration. The text of the
// change is what the approver must read, so the preview carries it and the
// confirm token is bound to it.

// textChange is one changed stretch of a module or of the data: the lines
// it removes and the lines it adds, after the lines both versions share.
type textChange struct {
	File    string   `json:"file"`
	AtLine  int      `json:"at_line"` // 1-based, in the policy in force
	Removed []string `json:"removed,omitempty"`
	Added   []string `json:"added,omitempty"`
}

// policyTextDiff compares the files of two bundles (tests and manifest
// included), by path; a bundle without files (one built in code, or an
// unsigned one of old) is compared as its modules and its data as
// indented JSON.
func policyTextDiff(old, next *policy.Bundle) []textChange {
	files := map[string][2]string{}
	for i, b := range []*policy.Bundle{old, next} {
		for name, src := range textFiles(b) {
			f := files[name]
			f[i] = src
			files[name] = f
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []textChange{} // an empty list, not null, when nothing changes
	for _, n := range names {
		if c, ok := lineChange(n, files[n][0], files[n][1]); ok {
			out = append(out, c)
		}
	}
	return out
}

func textFiles(b *policy.Bundle) map[string]string {
	if b.Files != nil {
		return b.Files
	}
	out := map[string]string{}
	for name, src := range b.Modules {
		out[name] = src
	}
	raw, _ := json.MarshalIndent(b.Data, "", "  ") // map keys sorted: canonical
	out["data.json"] = string(raw)
	return out
}

// lineChange returns the stretch between the longest common first and last
// lines of a and b.
func lineChange(file, a, b string) (textChange, bool) {
	if a == b {
		return textChange{}, false
	}
	al, bl := splitLines(a), splitLines(b)
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	return textChange{File: file, AtLine: pre + 1, Removed: al[pre : len(al)-suf], Added: bl[pre : len(bl)-suf]}, true
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
