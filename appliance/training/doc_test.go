package training_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cxt/appliance/training"
)

// docs/training.md prints the commands a certificate's README.txt prints.
func TestTheDocsPrintTheVerifyCommands(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../docs/training.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := training.Doc.Verify("$AT"); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/training.md does not print\n%s", want)
	}
}
