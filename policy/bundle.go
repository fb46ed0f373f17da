package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"cxt/crypto/sm"
	"cxt/policy/risk"
)

// A policy bundle travels as files: manifest.json ({"version": …}), rego
// modules (their *_test.rego tests with them) and data.json files, each
// merged at the data root. Its digest is the SM3 of a canonical byte form
// of the files, and a security administrator signs the digest with SM2
// (docs/security.md, "Signed policy bundles").

// Names in a bundle.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "bundle.sig" // the DER signature, next to the files; not a file of the bundle
	DataFile      = "data.json"
	// EmbeddedVersion is the version of the bundle built into cxt; a
	// bundle put in force names another.
	EmbeddedVersion = "embedded"
)

// canonicalHeader starts the canonical form; the v1 names its layout.
const canonicalHeader = "cxt-policy-bundle-v1\n"

// Files is a bundle's files by slash-separated relative path. Contents are
// text (UTF-8): rego and JSON.
type Files map[string]string

var (
	segment    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	versionRx  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	maxPathLen = 200
)

// Size is what MaxBundleSize bounds: every path and content, in bytes.
func (f Files) Size() int {
	n := 0
	for p, c := range f {
		n += len(p) + len(c)
	}
	return n
}

// Canonical returns the bytes the digest is taken of: the header, then for
// every file in bytewise order of its path: path "\n" length "\n" content
// "\n", the length in decimal bytes.
func (f Files) Canonical() []byte {
	paths := f.Paths()
	var b bytes.Buffer
	b.Grow(len(canonicalHeader) + f.Size() + 16*len(paths))
	b.WriteString(canonicalHeader)
	for _, p := range paths {
		b.WriteString(p)
		b.WriteByte('\n')
		b.WriteString(strconv.Itoa(len(f[p])))
		b.WriteByte('\n')
		b.WriteString(f[p])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Digest is the SM3 of the canonical form: what a signature signs.
func (f Files) Digest() [sm.HashSize]byte { return sm.Sum(f.Canonical()) }

// Paths returns the paths in bytewise order.
func (f Files) Paths() []string {
	paths := make([]string, 0, len(f))
	for p := range f {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Check says what is wrong with the files as a bundle, if anything: a path
// that is not a plain relative one, a file of another kind than the three,
// text that is not UTF-8, a missing or malformed manifest. It does not
// parse the rego or the data (Bundle does).
func (f Files) Check() error {
	if len(f) == 0 {
		return errors.New("the bundle has no files")
	}
	for _, p := range f.Paths() {
		if err := checkPath(p); err != nil {
			return err
		}
		if !utf8.ValidString(f[p]) {
			return fmt.Errorf("%s is not UTF-8 text", p)
		}
	}
	_, err := f.Version()
	return err
}

func checkPath(p string) error {
	if len(p) > maxPathLen {
		return fmt.Errorf("the path %.40q… is longer than %d bytes", p, maxPathLen)
	}
	for _, s := range strings.Split(p, "/") {
		if !segment.MatchString(s) {
			return fmt.Errorf("the path %q is not a relative path of plain names (letters, digits, . _ -, not starting with a dot)", p)
		}
	}
	switch base := pathpkg.Base(p); {
	case p == ManifestFile, strings.HasSuffix(base, ".rego"), base == DataFile:
		return nil
	case p == SignatureFile:
		return fmt.Errorf("%s is the signature, not a file of the bundle", SignatureFile)
	}
	return fmt.Errorf("%s: a bundle holds %s, *.rego and %s files only", p, ManifestFile, DataFile)
}

// Version reads the manifest's version.
func (f Files) Version() (string, error) {
	raw, ok := f[ManifestFile]
	if !ok {
		return "", fmt.Errorf("the bundle has no %s", ManifestFile)
	}
	var m struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return "", fmt.Errorf("%s: %v", ManifestFile, err)
	}
	if m.Version == nil || !versionRx.MatchString(*m.Version) {
		return "", fmt.Errorf("%s: version must be 1-64 letters, digits and . _ + -, starting with a letter or digit", ManifestFile)
	}
	return *m.Version, nil
}

// IsTest reports whether the path is a rego test module.
func IsTest(path string) bool { return strings.HasSuffix(path, "_test.rego") }

// Bundle builds the policy the files make: the rego modules other than the
// tests, and the data.json files merged deeply at the data root (a value
// given by two files is an error). It does not compile the rego (New
// does).
func (f Files) Bundle() (*Bundle, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	v, _ := f.Version()
	b := &Bundle{Modules: map[string]string{}, Data: map[string]any{}, Version: v, Files: f}
	for _, p := range f.Paths() {
		switch {
		case IsTest(p):
		case strings.HasSuffix(p, ".rego"):
			b.Modules[p] = f[p]
		case pathpkg.Base(p) == DataFile:
			var d map[string]any
			if err := json.Unmarshal([]byte(f[p]), &d); err != nil || d == nil {
				return nil, fmt.Errorf("%s: the data must be a JSON object: %v", p, err)
			}
			if err := mergeData(b.Data, d, ""); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	if len(b.Modules) == 0 {
		return nil, errors.New("the bundle has no rego module besides tests")
	}
	return b, nil
}

// mergeData merges src into dst deeply: objects merge key by key, and any
// other value meeting a value already there is a conflict.
func mergeData(dst, src map[string]any, at string) error {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first conflict named is the same every time
	for _, k := range keys {
		v := src[k]
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		o, ok1 := old.(map[string]any)
		n, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("the data at %s/%s is given by two data.json files", at, k)
		}
		if err := mergeData(o, n, at+"/"+k); err != nil {
			return err
		}
	}
	return nil
}

// DefaultFiles returns the bundle built into cxt: the authorization rules
// of policy/rego under rego/, the risk rules of policy/risk under risk/,
// their tests and data, and a manifest of version "embedded".
func DefaultFiles() Files {
	f := Files{ManifestFile: `{"version": "` + EmbeddedVersion + `"}` + "\n"}
	for prefix, fsys := range map[string]fs.FS{"rego": mustSub(embedded, "rego"), "risk": risk.Files} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := fs.ReadFile(fsys, p)
			f[prefix+"/"+p] = string(raw)
			return err
		})
		if err != nil { // the files are compiled in
			panic(err)
		}
	}
	return f
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// ReadDir reads a bundle from a directory: every file under it but those
// whose name starts with a dot, and the signature (nil when there is none)
// from DIR/bundle.sig. A file a bundle cannot hold is an error, not
// skipped: what is signed is the whole directory.
func ReadDir(dir string) (Files, []byte, error) {
	f := Files{}
	var sig []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == SignatureFile {
			sig = raw
			return nil
		}
		if err := checkPath(rel); err != nil {
			return err
		}
		f[rel] = string(raw)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return f, sig, f.Check()
}

// WriteDir writes the files (and sig, when not nil) into dir, which must
// not exist or be empty.
func WriteDir(dir string, f Files, sig []byte) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	for _, p := range f.Paths() {
		if err := checkPath(p); err != nil {
			return err
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(f[p]), 0o644); err != nil {
			return err
		}
	}
	if sig != nil {
		return os.WriteFile(filepath.Join(dir, SignatureFile), sig, 0o644)
	}
	return os.MkdirAll(dir, 0o755)
}
