package identity

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/policy"
	"cxt/storage/state"
)

// A policy is put in force as a bundle signed by a security administrator
// with the SM2 key the account enrolled (docs/security.md, "Signed policy
// bundles"). The API checks it as the state machine will — signature,
// signer, rego, tests, duty rules — under deadlines, so that a bundle is
// refused at once rather than proposed; every replica checks it again.

// testDeadline bounds each rego test of a bundle here (the state machine
// runs them without one), and checkDeadline all the checking.
const (
	testDeadline  = 5 * time.Second
	checkDeadline = 30 * time.Second
)

// PolicySignerKey is the policy.SignerKey of the appliance: the SM2 key
// (PEM) of an open account of a security administrator that enrolled one.
func PolicySignerKey(get policy.Getter, id string) (string, error) {
	raw, err := get.Get(AccountsBucket, []byte(id))
	if err != nil {
		return "", err
	}
	if raw == nil {
		return "", state.Reject(policy.CodeSignatureInvalid, "the signer %q is not an account", id)
	}
	a, err := decode[Account](raw)
	if err != nil {
		return "", err
	}
	switch {
	case !a.Closed.IsZero():
		return "", state.Reject(policy.CodeSignatureInvalid, "the signer %s is closed", a.ID)
	case !slices.Contains(a.Roles, SecurityAdmin):
		return "", state.Reject(policy.CodeSignatureInvalid, "the signer %s is not a security administrator", a.ID)
	case a.SM2Key == "":
		return "", state.Reject(policy.CodeSignatureInvalid, "the signer %s has no enrolled SM2 key", a.ID)
	}
	return a.SM2Key, nil
}

// findSigner returns the open security administrator whose enrolled key
// verifies sig, and the key.
func findSigner(r *api.Request, f policy.Files, sig []byte) (string, string, error) {
	var id, key string
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(AccountsBucket, func(k, _ []byte) error {
			if id != "" {
				return nil
			}
			pem, err := PolicySignerKey(tx, string(k))
			if err != nil {
				if policy.CodeSignatureInvalid.Is(err) {
					return nil
				}
				return err
			}
			if policy.VerifySignature(pem, f, sig) == nil {
				id, key = string(k), pem
			}
			return nil
		})
	})
	if err != nil {
		return "", "", err
	}
	if id == "" {
		return "", "", errs.Coded("set policy", errs.Invalid, policy.CodeSignatureInvalid.String(),
			"no open security administrator's enrolled SM2 key verifies the signature: the files are not the ones signed, or the key is not enrolled (POST /api/v1/me/mfa/sm2)")
	}
	return id, key, nil
}

// policyBody is what PUT /api/v1/policy takes.
type policyBody struct {
	Files     policy.Files `json:"files"`
	Signature string       `json:"signature"` // base64 of the DER SM2 signature (bundle.sig)
	// The unsigned bundle of old, named only to refuse it by its own code.
	Modules json.RawMessage `json:"modules"`
	Data    json.RawMessage `json:"data"`
	Version json.RawMessage `json:"version"`
}

// setPolicy puts a signed policy bundle in force on every node (security
// admin; important).
func (b *Backend) setPolicy(r *api.Request) (*api.Op, error) {
	const op = "set policy"
	var in policyBody
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Modules != nil || in.Data != nil || in.Version != nil {
		return nil, errs.Coded(op, errs.Invalid, policy.CodeUnsigned.String(),
			"an unsigned bundle (modules, data, version) is no longer taken: send {\"files\": {path: content}, \"signature\": base64} — `cxt policy sign` then `cxt policy push` (docs/operations.md)")
	}
	if in.Signature == "" {
		return nil, errs.Coded(op, errs.Invalid, policy.CodeUnsigned.String(), "the bundle is not signed: sign it with `cxt policy sign --key KEY.pem DIR`")
	}
	sig, err := base64.StdEncoding.DecodeString(in.Signature)
	if err != nil {
		return nil, errs.Coded(op, errs.Invalid, policy.CodeSignatureInvalid.String(), "signature is the base64 of the DER signature: %v", err)
	}
	if n := in.Files.Size(); n > policy.MaxBundleSize {
		return nil, errs.Coded(op, errs.Invalid, policy.CodeTooLarge.String(), "the bundle is %d bytes; at most %d", n, policy.MaxBundleSize)
	}
	if err := in.Files.Check(); err != nil {
		return nil, errs.Coded(op, errs.Invalid, policy.CodeInvalid.String(), "%v", err)
	}
	signer, key, err := findSigner(r, in.Files, sig)
	if err != nil {
		return nil, err
	}
	cmd, err := policy.ActivateCommand(policy.Activate{Files: in.Files, Signature: sig, Signer: signer}, r.Now())
	if err != nil {
		return nil, api.Classify(err)
	}
	return b.policyOp(r, in.Files, sig, key, signer, cmd, nil)
}

// rollbackPolicy puts the latest activation of a version in force again
// (security admin; important), its signature verified again against the
// key recorded at that activation.
func (b *Backend) rollbackPolicy(r *api.Request) (*api.Op, error) {
	const op = "roll back policy"
	var in struct {
		Version string `json:"version"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Version == "" {
		return nil, errs.E(op, errs.Invalid, "give the version to put back in force")
	}
	var prev *policy.Activation
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		prev, err = policy.LatestOf(tx.ForEach, in.Version)
		return err
	}); err != nil {
		return nil, err
	}
	if prev == nil {
		return nil, errs.Coded(op, errs.NotExist, policy.CodeUnknownVersion.String(), "no policy of version %q was ever in force (GET /api/v1/policy/history lists them)", in.Version)
	}
	cmd := policy.RollbackCommand(prev.Version, prev.Index, r.Now())
	return b.policyOp(r, prev.Files, prev.Signature, prev.SignerKey, prev.Signer, cmd, prev)
}

// policyOp checks a signed bundle as the state machine will and prepares
// the operation that puts it in force: its preview shows the signer, the
// tests, the permission and text diffs and, as advice, the decisions of
// the last 30 days it would change.
func (b *Backend) policyOp(r *api.Request, f policy.Files, sig []byte, key, signer string, cmd *state.Command, rollbackOf *policy.Activation) (*api.Op, error) {
	ctx, cancel := context.WithTimeout(r.Ctx, checkDeadline)
	defer cancel()
	bundle, candidate, err := policy.CheckSigned(ctx, f, sig, key, testDeadline)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errs.Coded("set policy", errs.Invalid, policy.CodeTestsFail.String(), "the bundle's tests did not finish within %s", checkDeadline)
		}
		return nil, api.Classify(err)
	}
	digest := bundle.Digest()
	if err := r.View(func(tx *state.ReadTx) error {
		return policy.CheckVersion(tx, tx.ForEach, bundle.Version, digest, rollbackOf != nil)
	}); err != nil {
		return nil, api.Classify(err)
	}
	if err := keepsDuties(r, candidate, bundle); err != nil {
		return nil, err
	}
	current := b.Authz
	diff, err := PermissionDiff(r, current, candidate, bundle)
	if err != nil {
		return nil, err
	}
	results, _ := policy.RunTests(ctx, f, testDeadline) // they passed in CheckSigned
	old := current.Bundle().Digest()
	r.Audit.Object = "policy " + bundle.Version
	impact := map[string]any{"from_version": current.Version(), "to_version": bundle.Version,
		"from_sm3": hex.EncodeToString(old[:]), "to_sm3": hex.EncodeToString(digest[:]), "signer": signer,
		"tests_passed": len(results), "permission_diff": diff, "text_diff": policyTextDiff(current.Bundle(), bundle)}
	if rollbackOf != nil {
		impact["rollback_of"] = map[string]any{"version": rollbackOf.Version, "activated_index": rollbackOf.Index, "activated_at": rollbackOf.Time}
	}
	return &api.Op{
		Impact: impact,
		Risks: []string{"every authorization decision on every node changes at once; a mistake can lock administrators out",
			"the permission diff enumerates accounts, actions, labels and second factors only: a rule keyed on anything else (the resource acted on, a request detail) shows in text_diff alone — read it"},
		Command: cmd, Status: 200, Response: map[string]any{"version": bundle.Version, "sm3": hex.EncodeToString(digest[:]), "signer": signer},
		Advise: func() (map[string]any, error) {
			m, err := ReplayDecisions(r, current, candidate)
			if err != nil || b.RiskReplay == nil {
				return m, err
			}
			if m["payout_decisions"], err = b.RiskReplay(r, candidate); err != nil {
				return nil, err
			}
			return m, nil
		},
	}, nil
}

// getPolicy shows the policy in force: its version, digest, signer and the
// log index every node switched to it at, and its files.
func (b *Backend) getPolicy(r *api.Request) (int, any, error) {
	var cur *policy.Activation
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		cur, err = policy.Current(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if cur != nil {
		return 200, map[string]any{"version": cur.Version, "sm3": cur.Digest, "signer": cur.Signer,
			"activated_index": cur.Index, "activated_at": cur.Time, "files": cur.Files,
			"signature": base64.StdEncoding.EncodeToString(cur.Signature)}, nil
	}
	bundle := b.Authz.Bundle() // the embedded one, or an unsigned one of old
	d := bundle.Digest()
	out := map[string]any{"version": bundle.Version, "sm3": hex.EncodeToString(d[:]), "activated_index": 0}
	if bundle.Files != nil {
		out["files"] = bundle.Files
	} else {
		out["modules"], out["data"] = bundle.Modules, bundle.Data
	}
	return 200, out, nil
}

// policyHistory lists every activation, newest first, without files.
func (b *Backend) policyHistory(r *api.Request) (int, any, error) {
	var hs []policy.Activation
	var cur *policy.Activation
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if hs, err = policy.History(tx.ForEach); err != nil {
			return err
		}
		cur, err = policy.Current(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	out := make([]map[string]any, 0, len(hs))
	for i := len(hs) - 1; i >= 0; i-- {
		h := hs[i]
		e := map[string]any{"version": h.Version, "sm3": h.Digest, "signer": h.Signer,
			"activated_index": h.Index, "activated_at": h.Time, "in_force": cur != nil && cur.Index == h.Index}
		if h.RollbackOf != 0 {
			e["rollback_of"] = h.RollbackOf
		}
		out = append(out, e)
	}
	return 200, map[string]any{"activations": out}, nil
}
