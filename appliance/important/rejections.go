package important

import "cxt/storage/state"

// The refusals of this package's commands besides the general ones.
var (
	codeIdempotencyConflict = state.NewCode(state.KindConflict, "idempotency_conflict")
	codeConfirmMismatch     = state.NewCode(state.KindConflict, "confirm_mismatch")
	codeApprovalClosed      = state.NewCode(state.KindConflict, "approval_closed")
	codeApprovalStale       = state.NewCode(state.KindConflict, "approval_stale")
	codeApproverNotEligible = state.NewCode(state.KindPermission, "approver_not_eligible")
)
