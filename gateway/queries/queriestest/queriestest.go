// Package queriestest opens a sealed document as docs/gateway.md (§9)
// tells a bureau to: the shell block that document marks as tested, run
// with the machine's OpenSSL 3 on the answer's fields saved as it says.
// The queries' tests and the gateway listener's run the very same block.
package queriestest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Doc is the document holding the tested block, from the repository root.
const Doc = "docs/gateway.md"

// Marker opens the tested block in Doc.
const Marker = "<!-- tested: gateway/queries TestADocumentOpensWithOpenSSLAlone and appliance/api run this block -->\n```sh\n"

// Script returns the tested shell block of Doc; root is the repository's
// root.
func Script(root string) (string, error) {
	doc, err := os.ReadFile(filepath.Join(root, Doc))
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(string(doc), Marker)
	if !ok {
		return "", fmt.Errorf("%s has no tested OpenSSL block", Doc)
	}
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		return "", errors.New("the tested block does not end")
	}
	return script, nil
}

// Files are the answer's fields and the files the documentation saves
// them in, base64 as they are (sm3 as hex).
var Files = map[string]string{"key": "key.b64", "iv": "iv.b64", "ciphertext": "body.b64", "mac": "mac.b64", "sm3": "sm3.hex"}

// Save writes a sealed document's answer (its JSON as the gateway sends
// it) into dir as the documentation says, with the bureau's private key
// in PEM as bureau.pem.
func Save(dir string, answer, keyPEM []byte) error {
	var fields map[string]any
	if err := json.Unmarshal(answer, &fields); err != nil {
		return err
	}
	for field, file := range Files {
		s, ok := fields[field].(string)
		if !ok {
			return fmt.Errorf("the answer's field %s is %T, not a string", field, fields[field])
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(s), 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "bureau.pem"), keyPEM, 0o600)
}

// Run runs script in dir with sh, and returns the file "document" it
// made and what it printed; err if a command failed.
func Run(dir, script string) ([]byte, string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("the documented commands failed: %w\n%s", err, out)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "document"))
	return doc, string(out), err
}
