package identity

import "time"

// reissue gives an account credentials only its owner will know: a
// one-time password (drawn by the approving node and sent to the owner's
// registered channel), to be changed at the first login, and no second
// factor, so that the next login enrolls one. It is what an account given
// an administrator role gets (SetRoles.Reissue): whatever its creator set
// or enrolled while it was an ordinary account is worth nothing after the
// promotion. The caller ends every session.
func (a *Account) reissue(h PasswordHash, now time.Time) {
	a.replacePassword(h, now)
	a.MustChange = true
	a.clearFactors()
}
