package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// missingTop returns the outermost folder on the way to dir that does not
// exist yet — what creating dir will make — or "" if dir exists. A failed
// init or join removes it, so that a failure leaves nothing behind, not even
// an empty folder; a folder that was there before is kept.
func missingTop(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	top := ""
	for p := abs; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return top
		}
		top = p
		if filepath.Dir(p) == p {
			return top
		}
	}
}

// removeMade removes what missingTop said creating the folder would make.
func removeMade(top string) {
	if top != "" {
		os.RemoveAll(top)
	}
}
