package policy

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The policy in force is replicated: a change is a command that every node
// applies by checking the signed bundle again — signature, signer, rego,
// tests, duty rules — and, if it passes, swapping it in at commit; so every
// node switches at the same log index, and a node that starts loads the
// stored bundle instead of the embedded default. Every activation is kept,
// so a previous bundle can be put back (rollback) by its version.
const (
	Bucket        = "policy"
	HistoryBucket = "policy_history" // activations by log index (8 bytes, big-endian)
	// CmdSet put an unsigned bundle in force, before command set
	// state.PolicyBundleSet; from it on, it is refused (bundle_unsigned).
	CmdSet      = "policy.set"
	CmdActivate = "policy.activate" // a signed bundle (Activate)
	CmdRollback = "policy.rollback" // a previous activation again (Rollback)
)

var currentKey = []byte("current")

// Digest is the SM3 of a bundle's canonical form (Files.Digest), shown in
// previews and recorded with every change; for a bundle without files,
// that of its canonical JSON.
func (b *Bundle) Digest() [sm.HashSize]byte {
	if b.Files != nil {
		return b.Files.Digest()
	}
	raw, _ := json.Marshal(b) // map keys are sorted: canonical
	return sm.Sum(raw)
}

// MaxBundleSize bounds a policy bundle (Files.Size). Replicas compile a
// bundle and run its tests inside Apply with no deadline — a timeout would
// make the outcome depend on each machine's speed — so the work is bounded
// by refusing larger bundles before they are proposed, and by the API,
// which runs the tests first under a deadline. The embedded policy is
// about 32 KiB.
const MaxBundleSize = 256 << 10

// Rejections of a policy change; docs/errors.md.
var (
	codeBreaksDuty       = state.NewCode(state.KindInvalid, "policy_breaks_duty")
	CodeUnsigned         = state.NewCode(state.KindInvalid, "bundle_unsigned")
	CodeSignatureInvalid = state.NewCode(state.KindInvalid, "bundle_signature_invalid")
	CodeInvalid          = state.NewCode(state.KindInvalid, "bundle_invalid")
	CodeTestsFail        = state.NewCode(state.KindInvalid, "bundle_tests_fail")
	CodeTooLarge         = state.NewCode(state.KindInvalid, "bundle_too_large")
	CodeVersionReused    = state.NewCode(state.KindConflict, "bundle_version_reused")
	CodeInForce          = state.NewCode(state.KindConflict, "bundle_in_force")
	CodeUnknownVersion   = state.NewCode(state.KindNotFound, "policy_version_unknown")
)

// ErrBundleTooLarge is returned by SetCommand for a bundle over
// MaxBundleSize.
var ErrBundleTooLarge = errors.New("policy: the bundle is too large")

// Scanner visits a bucket's records in key order: state.ReadTx.ForEach,
// or TxScanner for a command's view.
type Scanner func(bucket string, fn func(k, v []byte) error) error

// TxScanner is the Scanner of a command being applied.
func TxScanner(tx *state.Tx) Scanner {
	return func(bucket string, fn func(k, v []byte) error) error {
		_, err := tx.Scan(bucket, nil, math.MaxInt, fn)
		return err
	}
}

// SignerKey returns the SM2 public key (PEM) with which account may sign a
// policy bundle now — an open account of a security administrator with an
// enrolled key — or a rejection (CodeSignatureInvalid) saying why it may
// not. The identity package provides it: the accounts are its records.
type SignerKey func(get Getter, account string) (string, error)

// Activate is the body of CmdActivate: a signed bundle, and the account
// whose key the signature was found to verify under (the API looks it up;
// every replica checks it again).
type Activate struct {
	Files     Files  `json:"files"`
	Signature []byte `json:"signature"`
	Signer    string `json:"signer"`
}

// Rollback is the body of CmdRollback: the activation to repeat, by its
// version and the log index it was applied at.
type Rollback struct {
	Version string `json:"version"`
	Index   uint64 `json:"index"`
}

// Activation records a bundle put in force: in the history, and as the
// one in force.
type Activation struct {
	Version string    `json:"version"`
	Digest  string    `json:"sm3"`
	Signer  string    `json:"signer"`
	Index   uint64    `json:"activated_index"` // the log index every node switched at
	Time    time.Time `json:"activated_at"`
	// RollbackOf is the index of the activation this one repeats.
	RollbackOf uint64 `json:"rollback_of,omitempty"`
	// SignerKey is the key the signature verified under at activation: a
	// rollback verifies it again against this key, whatever became of
	// the account since.
	SignerKey string `json:"signer_key"`
	Files     Files  `json:"files,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

// Summary is the activation without its files and signature.
func (a Activation) Summary() Activation {
	a.Files, a.Signature, a.SignerKey = nil, nil, ""
	return a
}

// CheckSigned checks a signed bundle as every replica does before putting
// it in force, in this order: its size and files; a signature at all;
// the signature over its digest under signerPEM; that its rego compiles
// into a policy; that every rego test it carries passes (testTimeout per
// test; 0: none). It returns the bundle and its compiled policy, or a
// rejection. The duty rules (CheckCandidate) are the caller's: the API
// tries them with the real administrators as well.
func CheckSigned(ctx context.Context, f Files, sig []byte, signerPEM string, testTimeout time.Duration) (*Bundle, *Authorizer, error) {
	if n := f.Size(); n > MaxBundleSize {
		return nil, nil, state.Reject(CodeTooLarge, "the bundle is %d bytes; at most %d", n, MaxBundleSize)
	}
	if err := f.Check(); err != nil {
		return nil, nil, state.Reject(CodeInvalid, "%v", err)
	}
	if len(sig) == 0 {
		return nil, nil, state.Reject(CodeUnsigned, "the bundle is not signed: sign it with `cxt policy sign`")
	}
	if err := VerifySignature(signerPEM, f, sig); err != nil {
		return nil, nil, err
	}
	b, err := f.Bundle()
	if err != nil {
		return nil, nil, state.Reject(CodeInvalid, "%v", err)
	}
	if b.Version == EmbeddedVersion {
		return nil, nil, state.Reject(CodeInvalid, "the version %q names the policy built into cxt: give the bundle a version of its own in %s", EmbeddedVersion, ManifestFile)
	}
	candidate, err := New(ctx, b)
	if err != nil {
		return nil, nil, state.Reject(CodeInvalid, "the policy does not compile: %v", err)
	}
	results, err := RunTests(ctx, f, testTimeout)
	if err != nil {
		return nil, nil, state.Reject(CodeTestsFail, "the bundle's tests cannot run: %v", err)
	}
	if failed := Failed(results); len(failed) > 0 {
		return nil, nil, state.Reject(CodeTestsFail, "%d of the bundle's %d tests fail: %s", len(failed), len(results), joinMax(failed, 20))
	}
	return b, candidate, nil
}

// VerifySignature checks sig, a DER SM2 signature (default ID) of the
// files' digest, under the PEM public key.
func VerifySignature(pubPEM string, f Files, sig []byte) error {
	pub, err := sm.ParsePublicKeyPEM([]byte(pubPEM))
	if err != nil {
		return state.Reject(CodeSignatureInvalid, "the signer's key does not parse: %v", err)
	}
	d := f.Digest()
	if !pub.Verify(d[:], sig) {
		return state.Reject(CodeSignatureInvalid, "the signature does not verify: the files are not the ones signed, or another key signed them")
	}
	return nil
}

// Sign returns the DER SM2 signature of the files' digest.
func Sign(key *sm.PrivateKey, f Files) ([]byte, error) {
	d := f.Digest()
	return key.Sign(d[:])
}

func joinMax(names []string, n int) string {
	s := ""
	for i, name := range names {
		if i == n {
			return s + fmt.Sprintf(" and %d more", len(names)-n)
		}
		if i > 0 {
			s += ", "
		}
		s += name
	}
	return s
}

// Register adds the policy buckets and commands. signer finds the key an
// account signs bundles with (identity.PolicySignerKey; nil: none may). When a is not
// nil, a committed change swaps a's policy, and a's policy is rebuilt from
// the stored one whenever the state is opened or restored from a snapshot
// (a's initial bundle when none is stored); a bundle refused is refused
// alike on every replica, and the one in force stays.
func Register(reg *state.Registry, a *Authorizer, signer SignerKey) {
	reg.Bucket(Bucket)
	reg.Bucket(HistoryBucket)
	reg.Handle(CmdSet, func(tx *state.Tx, cmd *state.Command) ([]byte, error) { return applyUnsigned(tx, cmd, a) })
	reg.HandleFrom(state.PolicyBundleSet, CmdActivate, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var in Activate
		if err := json.Unmarshal(cmd.Body, &in); err != nil {
			return nil, state.Reject(state.InvalidRequest, "%s: %v", CmdActivate, err)
		}
		if signer == nil { // a state machine without accounts (tests of other domains)
			return nil, state.Reject(CodeSignatureInvalid, "no account may sign a policy bundle here")
		}
		key, err := signer(tx, in.Signer)
		if err != nil {
			return nil, err
		}
		return nil, activate(tx, a, in.Files, in.Signature, key, in.Signer, 0)
	})
	reg.HandleFrom(state.PolicyBundleSet, CmdRollback, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var in Rollback
		if err := json.Unmarshal(cmd.Body, &in); err != nil {
			return nil, state.Reject(state.InvalidRequest, "%s: %v", CmdRollback, err)
		}
		prev, err := HistoryAt(tx, in.Index)
		if err != nil {
			return nil, err
		}
		if prev == nil || prev.Version != in.Version {
			return nil, state.Reject(CodeUnknownVersion, "no activation of policy %q at index %d", in.Version, in.Index)
		}
		return nil, activate(tx, a, prev.Files, prev.Signature, prev.SignerKey, prev.Signer, prev.Index)
	})
	reg.HandleFrom(state.RiskSet, CmdDefault, storeDefault(a))
	if a != nil {
		reg.OnReload(func(r *state.ReadTx) error { return reload(r, a) })
	}
}

// activate checks a signed bundle and, if it passes, records it and puts it
// in force at commit.
func activate(tx *state.Tx, a *Authorizer, f Files, sig []byte, signerKey, signer string, rollbackOf uint64) error {
	// No deadline: the work is bounded by MaxBundleSize, and the API ran
	// the tests under one first.
	ctx := context.Background()
	b, candidate, err := CheckSigned(ctx, f, sig, signerKey, 0)
	if err != nil {
		return err
	}
	digest := b.Digest()
	if err := CheckVersion(tx, TxScanner(tx), b.Version, digest, rollbackOf != 0); err != nil {
		return err
	}
	// The duty rules are checked here too, not only by the API: a policy
	// that breaks them is refused alike on every replica.
	if vs, err := CheckCandidate(ctx, candidate, b, nil); err != nil {
		return state.Reject(CodeInvalid, "the policy cannot be evaluated: %v", err)
	} else if len(vs) > 0 {
		return state.Reject(codeBreaksDuty, "%s", DescribeViolations(vs))
	}
	rec := Activation{
		Version: b.Version, Digest: hex.EncodeToString(digest[:]), Signer: signer, SignerKey: signerKey,
		Index: tx.Index(), Time: tx.Time(), RollbackOf: rollbackOf, Files: f, Signature: sig,
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Put(Bucket, currentKey, raw); err != nil {
		return err
	}
	if err := tx.Put(HistoryBucket, binary.BigEndian.AppendUint64(nil, rec.Index), raw); err != nil {
		return err
	}
	if a != nil {
		c := candidate.current.Load()
		tx.OnCommit(func() error {
			a.current.Store(c)
			return nil
		})
	}
	return nil
}

// CheckVersion refuses a bundle that is in force already, and one whose
// version an earlier activation gave to other files (a version names one
// bundle: rollback finds it by it). A rollback may repeat its version.
func CheckVersion(get Getter, scan Scanner, version string, digest [sm.HashSize]byte, rollback bool) error {
	want := hex.EncodeToString(digest[:])
	cur, err := Current(get)
	if err != nil {
		return err
	}
	if cur != nil && cur.Digest == want {
		return state.Reject(CodeInForce, "policy %q (sm3 %s) is in force already", cur.Version, want)
	}
	if rollback {
		return nil
	}
	return scan(HistoryBucket, func(_, v []byte) error {
		var h Activation
		if err := json.Unmarshal(v, &h); err != nil {
			return err
		}
		if h.Version == version && h.Digest != want {
			return state.Reject(CodeVersionReused, "version %q was activated at index %d with other files (sm3 %s): give this bundle a new version in %s", version, h.Index, h.Digest, ManifestFile)
		}
		return nil
	})
}

// applyUnsigned applies a policy.set: an unsigned bundle, put in force as
// before signed bundles while the cluster speaks an older command set (so
// that old log entries replay alike), and refused from then on.
func applyUnsigned(tx *state.Tx, cmd *state.Command, a *Authorizer) ([]byte, error) {
	if signed, err := tx.Speaks(state.PolicyBundleSet); err != nil {
		return nil, err
	} else if signed {
		return nil, state.Reject(CodeUnsigned, "a policy is put in force as a signed bundle (%s)", CmdActivate)
	}
	var b Bundle
	if err := json.Unmarshal(cmd.Body, &b); err != nil {
		return nil, state.Reject(state.InvalidRequest, "policy.set: %v", err)
	}
	// No deadline: compiling is bounded by MaxBundleSize.
	ctx := context.Background()
	candidate, err := New(ctx, &b)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "the policy does not compile: %v", err)
	}
	if vs, err := CheckCandidate(ctx, candidate, &b, nil); err != nil {
		return nil, state.Reject(state.InvalidRequest, "the policy cannot be evaluated: %v", err)
	} else if len(vs) > 0 {
		return nil, state.Reject(codeBreaksDuty, "%s", DescribeViolations(vs))
	}
	if err := tx.Put(Bucket, currentKey, cmd.Body); err != nil {
		return nil, err
	}
	if a != nil {
		c := candidate.current.Load()
		tx.OnCommit(func() error {
			a.current.Store(c)
			return nil
		})
	}
	return nil, nil
}

// reload puts the stored policy (or a's initial one) in force in a.
func reload(r *state.ReadTx, a *Authorizer) error {
	b, err := Stored(r)
	if err != nil {
		return err
	}
	if b == nil {
		b = a.base
	}
	if b == nil || a.Bundle().Digest() == b.Digest() {
		return nil
	}
	if err := a.Swap(context.Background(), b); err != nil {
		return fmt.Errorf("policy: the replicated policy %q does not compile: %w", b.Version, err)
	}
	return nil
}

// stored is the record under currentKey: an Activation, or a Bundle that
// a policy.set stored before signed bundles.
type stored struct {
	Activation
	Modules map[string]string `json:"modules"`
	Data    map[string]any    `json:"data"`
}

// decodeStored reads a record stored under currentKey: an Activation
// (with files), or a Bundle of old (modules and data).
func decodeStored(raw []byte) (*Bundle, *Activation, error) {
	var s stored
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, err
	}
	if s.Files == nil {
		return &Bundle{Modules: s.Modules, Data: s.Data, Version: s.Version}, nil, nil
	}
	b, err := s.Files.Bundle()
	return b, &s.Activation, err
}

// Stored returns the replicated policy bundle, or nil if none was set.
func Stored(get Getter) (*Bundle, error) {
	raw, err := get.Get(Bucket, currentKey)
	if err != nil || raw == nil {
		return nil, err
	}
	b, _, err := decodeStored(raw)
	return b, err
}

// Current returns the record of the bundle in force: a signed one's
// activation, or the embedded default's as policy.default stored it
// (no signer, index 0); nil when none is stored or the one stored is an
// unsigned one of old.
func Current(get Getter) (*Activation, error) {
	raw, err := get.Get(Bucket, currentKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var s stored
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s.Files == nil {
		return nil, nil
	}
	return &s.Activation, nil
}

// HistoryAt returns the activation applied at index, or nil.
func HistoryAt(get Getter, index uint64) (*Activation, error) {
	raw, err := get.Get(HistoryBucket, binary.BigEndian.AppendUint64(nil, index))
	if err != nil || raw == nil {
		return nil, err
	}
	var a Activation
	return &a, json.Unmarshal(raw, &a)
}

// History returns every activation, oldest first.
func History(scan Scanner) ([]Activation, error) {
	var out []Activation
	err := scan(HistoryBucket, func(_, v []byte) error {
		var a Activation
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// LatestOf returns the latest activation of version, or nil.
func LatestOf(scan Scanner, version string) (*Activation, error) {
	hs, err := History(scan)
	if err != nil {
		return nil, err
	}
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Version == version {
			return &hs[i], nil
		}
	}
	return nil, nil
}

// ActivateCommand returns the command that puts a signed bundle in force.
func ActivateCommand(in Activate, now time.Time) (*state.Command, error) {
	if n := in.Files.Size(); n > MaxBundleSize {
		return nil, state.Reject(CodeTooLarge, "the bundle is %d bytes; at most %d", n, MaxBundleSize)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return state.NewCommand(CmdActivate, raw, now), nil
}

// RollbackCommand returns the command that puts the activation at index
// in force again.
func RollbackCommand(version string, index uint64, now time.Time) *state.Command {
	raw, _ := json.Marshal(Rollback{Version: version, Index: index})
	return state.NewCommand(CmdRollback, raw, now)
}

// Candidate returns the bundle a policy command would put in force, for a
// preview of its approval: nil for another command, or one whose bundle
// cannot be built (the state machine refuses it).
func Candidate(get Getter, typ string, body []byte) *Bundle {
	var f Files
	switch typ {
	case CmdActivate:
		var in Activate
		if json.Unmarshal(body, &in) != nil {
			return nil
		}
		f = in.Files
	case CmdRollback:
		var in Rollback
		if json.Unmarshal(body, &in) != nil {
			return nil
		}
		h, err := HistoryAt(get, in.Index)
		if err != nil || h == nil {
			return nil
		}
		f = h.Files
	case CmdSet:
		var b Bundle
		if json.Unmarshal(body, &b) != nil {
			return nil
		}
		return &b
	default:
		return nil
	}
	b, err := f.Bundle()
	if err != nil {
		return nil
	}
	return b
}

// SetCommand returns the command that puts b in force unsigned, or
// ErrBundleTooLarge: what a cluster that does not speak
// state.PolicyBundleSet yet still takes.
func SetCommand(b *Bundle, now time.Time) (*state.Command, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes; at most %d", ErrBundleTooLarge, len(raw), MaxBundleSize)
	}
	return state.NewCommand(CmdSet, raw, now), nil
}
