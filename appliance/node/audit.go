package node

import (
	"errors"
	"fmt"
	"path/filepath"

	"cxt/appliance/datadir"
	"cxt/appliance/filing"
	"cxt/appliance/payouts"
	"cxt/appliance/topups"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// VerifyAudit checks the audit log of a stopped node's data folder, offline:
// every entry is reopened and rehashed and the tree recomputed, and the
// state file is checked against its authenticated head (applied index,
// audit size and root, the digest of every record). The report names the
// first problem; the head report says what the head records.
func VerifyAudit(dir string, master *keyring.MasterKey) (auditlog.Report, state.HeadReport, error) {
	rep, head, err := verifyOffline(dir, master)
	if err != nil {
		return rep, head, err
	}
	switch {
	case !rep.OK || head.OK:
	case head.AuditSize > rep.Size:
		// The tree is consistent but shorter than the head says: entries
		// were cut off and an older frontier put back.
		rep.OK, rep.FirstBad = false, rep.Size+1
		rep.Problem = fmt.Sprintf("the log ends at entry %d but the authenticated state head records %d entries: entries %d to %d were removed and an older frontier put back",
			rep.Size, head.AuditSize, rep.Size+1, head.AuditSize)
	default:
		rep.OK = false
		rep.Problem = "the state file does not match its authenticated head: " + head.Problem
	}
	return rep, head, nil
}

func verifyOffline(dir string, master *keyring.MasterKey) (auditlog.Report, state.HeadReport, error) {
	st, err := openOffline(dir, master, state.Options{ReadOnly: true})
	if err != nil {
		return auditlog.Report{}, state.HeadReport{}, fmt.Errorf("audit verify: %w", err)
	}
	defer st.Close()
	var rep auditlog.Report
	if err := st.View(func(r *state.ReadTx) error {
		rep, err = auditlog.Verify(r)
		return err
	}); err != nil {
		return rep, state.HeadReport{}, err
	}
	head, err := st.CheckHead()
	return rep, head, err
}

// AdoptState writes the state head of a stopped node's state file written
// by a cxt from before state heads, once its audit log verifies and every
// sealed value opens. Adoption trusts the file as it is: run it once, right
// after the upgrade.
func AdoptState(dir string, master *keyring.MasterKey) (state.HeadReport, error) {
	rep, head, err := verifyOffline(dir, master)
	switch {
	case err != nil:
		return head, err
	case head.OK:
		return head, errors.New("audit adopt: the state file already has a valid head; nothing to adopt")
	case !head.Missing:
		return head, fmt.Errorf("audit adopt: the state file has a head that does not verify (%s); adoption is only for files written before state heads", head.Problem)
	case !rep.OK:
		return head, fmt.Errorf("audit adopt: the audit log does not verify: entry %d: %s", rep.FirstBad, rep.Problem)
	}
	st, err := openOffline(dir, master, state.Options{AdoptHeadless: true})
	if err != nil {
		return head, fmt.Errorf("audit adopt: %w", err)
	}
	if err := st.Close(); err != nil {
		return head, err
	}
	if _, head, err = verifyOffline(dir, master); err == nil && !head.OK {
		err = fmt.Errorf("audit adopt: the adopted file does not verify: %s", head.Problem)
	}
	return head, err
}

// openOffline opens a stopped node's state file with the node's registry.
func openOffline(dir string, master *keyring.MasterKey, o state.Options) (*state.State, error) {
	cfg, err := datadir.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := master.Check(cfg.Seal.Verifier); err != nil {
		return nil, err
	}
	keys, err := keyring.New(master)
	if err != nil {
		return nil, err
	}
	reg := state.NewRegistry()
	Register(reg)
	return state.OpenWith(filepath.Join(dir, "state.db"), reg, keys, master, o)
}

// VerifyLedger checks a stopped node's books offline: every balance rebuilt
// from the postings alone, and the payments held against them
// (payouts.Verify), the tax payments against their postings
// (filing.Audit), and suspense against its items (topups.Audit).
func VerifyLedger(dir string, master *keyring.MasterKey) (*payouts.Report, error) {
	st, err := openOffline(dir, master, state.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("ledger verify: %w", err)
	}
	defer st.Close()
	var rep *payouts.Report
	err = st.View(func(r *state.ReadTx) (err error) {
		if rep, err = payouts.Verify(r); err != nil {
			return err
		}
		more, err := filing.Audit(r)
		if err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, more...)
		if more, err = topups.Audit(r); err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, more...)
		rep.OK = len(rep.Problems) == 0
		return nil
	})
	return rep, err
}
