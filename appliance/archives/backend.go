package archives

import (
	"cxt/appliance/contracts"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves the archives over the API and runs their commands.
type Backend struct {
	contracts.Lazy // the certificate PDF's renderer
	// Rules are the retention rules; nil: Default.
	Rules *Rules
	// Sources add other domains' items to each archive.
	Sources []Source
	// Documents is the blob store (nil while the node is sealed): the
	// approving node reads each document object's ciphertext for the SM3
	// the certificate lists.
	Documents func() *blob.Store
	// Complete closes a worker's deletion requests once their archive is
	// destroyed (appliance/privacy), inside the destroying command.
	Complete func(tx *state.Tx, worker, certificate string) error
	// OnDestroyed runs on each node after a destruction commits (the node
	// compacts its log and records the destruction outside its state); it
	// must not block.
	OnDestroyed func(subject string)
	// Reloaded runs on each node whenever its state file is opened or
	// replaced by a snapshot (state.Registry.OnReload): the moments a state
	// from before a destruction can come back. It must not block.
	Reloaded func()
}

func (b *Backend) rules() *Rules {
	if b.Rules != nil {
		return b.Rules
	}
	return Default
}
