package important

import (
	"cxt/appliance/api"
	"cxt/appliance/identity"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves the approvals that four-eyes changes wait for, and tells
// the API's previews which changes need one (api.FourEyes).
type Backend struct {
	// Authz is the policy in force: approving a policy change shows its
	// permission diff against it.
	Authz *policy.Authorizer
	// Hashing hashes the one-time password an approval draws for a new
	// administrator.
	Hashing identity.Hashing
}

// Register adds the buckets and commands of important operations.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the approvals' endpoints. Deciding is itself an important
// operation: step-up, Idempotency-Key, preview and confirm.
func (b *Backend) Routes() []api.Route {
	approval := api.PathOwner("id")
	return []api.Route{
		{Method: "GET", Path: "/api/v1/approvals", Action: "approvals.list", Kind: api.Read, Handle: b.listApprovals},
		{Method: "POST", Path: "/api/v1/approvals/{id}/approve", Action: "approvals.decide", Kind: api.Important, Resource: approval, Prepare: b.approve},
		{Method: "POST", Path: "/api/v1/approvals/{id}/reject", Action: "approvals.decide", Kind: api.Important, Resource: approval, Prepare: b.reject},
	}
}

// Approvers says who may approve cmd proposed by proposer, if it needs a
// second administrator (api.FourEyes): not the proposer's own duty, nor one
// the change grants, within ApprovalTTL.
func (b *Backend) Approvers(tx *state.ReadTx, proposer policy.Subject, cmd *state.Command) (*api.Approvers, error) {
	req, err := FourEyes(tx.Get, cmd.Type, cmd.Body)
	if err != nil || req == nil {
		return nil, err
	}
	return &api.Approvers{Roles: ApproverRoles(identity.AdminRole(proposer.Roles), req), Within: ApprovalTTL}, nil
}
