package node

import (
	"fmt"
	"path/filepath"

	"cxt/appliance/datadir"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// VerifyAudit checks the audit log of a stopped node's data folder, offline:
// every entry is reopened and rehashed and the tree recomputed.
func VerifyAudit(dir string, master *keyring.MasterKey) (auditlog.Report, error) {
	cfg, err := datadir.Load(dir)
	if err != nil {
		return auditlog.Report{}, err
	}
	if err := master.Check(cfg.Seal.Verifier); err != nil {
		return auditlog.Report{}, err
	}
	keys, err := keyring.New(master)
	if err != nil {
		return auditlog.Report{}, err
	}
	reg := state.NewRegistry()
	Register(reg)
	st, err := state.OpenWith(filepath.Join(dir, "state.db"), reg, keys, master, state.Options{ReadOnly: true})
	if err != nil {
		return auditlog.Report{}, fmt.Errorf("audit verify: %w", err)
	}
	defer st.Close()
	var rep auditlog.Report
	err = st.View(func(r *state.ReadTx) error {
		rep, err = auditlog.Verify(r)
		return err
	})
	return rep, err
}
