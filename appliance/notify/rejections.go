package notify

import "cxt/storage/state"

// ChannelRequired refuses a change that must reach its owner by e-mail or
// SMS when the account has neither.
var ChannelRequired = state.NewCode(state.KindInvalid, "channel_required")
