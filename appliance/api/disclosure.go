package api

import (
	"cxt/policy"
)

// decideHidingLabels decides a request on an account without telling the
// caller that the account sits above their clearance. Mandatory access
// control refuses it all the same, but a refusal that said so (or a 403 where
// an unknown account gets a 404) would confirm that the account exists and
// is cleared higher. So a denial caused by the label alone is decided again
// as if the account were absent (absent accounts carry label 1): the caller
// gets exactly the answers an absent account gets, in the same order — other
// denials first, then the session checks, then not_found — and the audit
// record keeps the truth.
func (s *Server) decideHidingLabels(req *Request, in policy.Input, absent *bool) (policy.Decision, error) {
	d, err := s.Authz.Decide(req.Ctx, in)
	if err != nil || d.Allow || in.Resource.Label <= in.Subject.Clearance {
		return d, err
	}
	owner := in.Resource.Owner
	in.Resource.Label = 1
	if d, err = s.Authz.Decide(req.Ctx, in); err != nil {
		return d, err
	}
	*absent = true
	req.Audit.Object = owner
	req.Audit.Reason = "answered as absent: the account's security label is above the caller's clearance"
	return d, nil
}
