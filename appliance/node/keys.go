package node

import (
	"fmt"
	"time"

	"cxt/appliance/api"
	"cxt/storage/state"
)

// keys is the node's own backend: rotating the key term needs the master
// key, which only the node holds.
type keys struct {
	// newTerm returns the command that installs key term n with a fresh
	// secret wrapped by the master key; set at unseal.
	newTerm func(n uint32, now time.Time) (*state.Command, error)
}

// Register adds nothing: key terms are the state machine's own commands.
func (k *keys) Register(*state.Registry) {}

func (k *keys) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/keys/rotate", Action: "keys.rotate", Kind: api.Important, Prepare: k.rotate},
	}
}

// rotate adds a key term: new values are sealed under it, old terms stay
// readable, nothing stops (system admin; important).
func (k *keys) rotate(r *api.Request) (*api.Op, error) {
	active := r.Node.Keys().Active()
	cmd, err := k.newTerm(active+1, r.Now())
	if err != nil {
		return nil, err
	}
	r.Audit.Object = fmt.Sprintf("key term %d", active+1)
	return &api.Op{
		Impact:  map[string]any{"active_term": active, "new_term": active + 1},
		Risks:   []string{"new records are sealed under the new term at once; older terms stay readable until re-encrypted"},
		Command: cmd, Status: 200, Response: map[string]any{"active_term": active + 1},
	}, nil
}
