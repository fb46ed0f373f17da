package identity

import "cxt/storage/state"

// The refusals of this package's commands besides the general ones.
var (
	codeAccountLocked      = state.NewCode(state.KindPermission, RefusedLocked)
	codeCaptchaRequired    = state.NewCode(state.KindUnauthenticated, RefusedCaptcha)
	codeInvalidCredentials = state.NewCode(state.KindUnauthenticated, "invalid_credentials")
)
