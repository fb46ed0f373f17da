package api

import (
	"cxt/policy"
)

// decideHidingLabels decides a request on a resource, and enforces
// mandatory access control in code: a subject never acts on a resource
// labelled above its clearance, whatever the policy says (policy.CheckLabel;
// a policy that would allow it is refused before it is put in force, but a
// rule the candidate check cannot foresee must not open the way either).
//
// It does so without telling the caller that the resource (an account)
// sits above their clearance: a refusal that said so (or a 403 where an
// unknown account gets a 404) would confirm that it exists and is cleared
// higher. So a request above the caller's clearance is decided as if the
// resource were absent (absent resources carry label 1): the caller gets
// exactly the answers an absent one gets, in the same order — the policy's
// denials first, then the session checks, then not_found — and the audit
// record keeps the truth.
//
// Tenancy is enforced and hidden the same way (policy.CheckTenant): another
// merchant's record, or another worker's, is decided as an absent one and
// answered not_found, so that an ID guessed, listed or taken from another
// tenant's answers learns nothing.
func (s *Server) decideHidingLabels(req *Request, in policy.Input, absent *bool, noun string) (policy.Decision, error) {
	why := ""
	switch {
	case policy.CheckLabel(in) != nil:
		why = "answered as absent: the " + noun + "'s security label is above the caller's clearance"
	case policy.CheckTenant(in) != nil:
		why = "answered as absent: the " + noun + " belongs to another tenant"
	default:
		return s.Authz.Decide(req.Ctx, in)
	}
	owner := in.Resource.Owner
	// Decided as an absent resource is: label 1, no tenant.
	in.Resource.Label, in.Resource.Tenanted, in.Resource.Merchants, in.Resource.Worker = 1, false, nil, ""
	d, err := s.Authz.Decide(req.Ctx, in)
	if err != nil {
		return d, err
	}
	*absent = true
	req.Audit.Object = owner
	req.Audit.Reason = why
	return d, nil
}
