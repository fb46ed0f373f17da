package identity

import (
	"slices"
	"time"

	"cxt/storage/state"
)

// CmdBreakGlass resets a locked-out administrator (see docs/operations.md,
// "Break-glass"): the operator proved the master key to the node, which
// drew a one-time password and proposed this command.
const CmdBreakGlass = "account.break_glass"

// BreakGlass is the body of CmdBreakGlass.
type BreakGlass struct {
	Account   string       `json:"account"`
	NameIndex []byte       `json:"name_index"`
	Hash      PasswordHash `json:"hash"` // of the new one-time password
	Node      string       `json:"node"` // whose operator socket asked
}

// breakGlass gives an administrator account a one-time password, removes its
// second factor (it is enrolled again at the next login), lifts a lock, ends
// every session and tells the owner. Only administrator accounts qualify:
// anyone else is recovered by a security administrator through the API, and
// the master key should not become a way into ordinary accounts.
func breakGlass(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, acct, err := bodyAndAccount(tx, cmd, func(c *BreakGlass) string { return c.Account })
	if err != nil {
		return nil, err
	}
	if !acct.Closed.IsZero() {
		return nil, state.Reject(state.Conflict, "the account is closed")
	}
	if !slices.ContainsFunc(acct.Roles, func(r string) bool { return slices.Contains(AdminRoles, r) }) {
		return nil, state.Reject(state.InvalidRequest, "break-glass recovers administrator accounts only; a security administrator recovers the others")
	}
	acct.replacePassword(c.Hash, tx.Time())
	acct.MustChange = true
	acct.clearFactors()
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return nil, err
	}
	if err := tx.Delete(AttemptsBucket, c.NameIndex); err != nil {
		return nil, err
	}
	if err := Notify(tx, acct.ID, "account.break_glass", "紧急恢复 / Break-glass recovery",
		"The password and second factor of "+acct.Username+" were reset by break-glass recovery on node "+c.Node+
			" at "+tx.Time().Format(time.RFC3339)+". Sign in with the one-time password the operators hold and enroll a second factor. If you did not ask for this, tell the security officers at once."); err != nil {
		return nil, err
	}
	return nil, endAllSessions(tx, acct.ID, nil)
}
