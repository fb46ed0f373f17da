package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/archives"
	"cxt/appliance/errs"
	"cxt/storage/blob"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// The destroyed archives, outside the state. After a destruction commits,
// each node compacts its Raft log (as after any shred) and writes the
// signed record of every destroyed archive its state holds to the blob
// store (archives.ListID): MinIO, outside every node's data folder. A node
// that opens a state holding the live key of a subject that list names —
// its folder, or a snapshot, came back from before the destruction —
// serves nothing but health (503 archive_restored) until the destruction
// is applied again: its leader proposes archive.reapply for each, checked
// against the platform's signature, and the key goes again on every node.

// codeRestored is the refusal while the node withholds its state.
const codeRestored = "archive_restored"

func (n *Node) withheld() error {
	if p := n.withhold.Load(); p != nil {
		return *p
	}
	return nil
}

// afterDestroy runs on the apply goroutine after a destruction commits.
func (n *Node) afterDestroy(subject string) {
	n.compactAfterShred(subject)
	c := n.Cluster()
	if c == nil {
		return
	}
	n.mu.Lock()
	store := n.blobs
	n.mu.Unlock()
	if store == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for attempt := 0; ; attempt++ {
			err := n.recordDestroyed(ctx, c, store.Raw())
			if err == nil {
				return
			}
			if attempt == 5 || ctx.Err() != nil {
				n.log.Error("the destroyed-archives list in the blob store is behind the state; the next destruction or restart writes it", "subject", subject, "err", err)
				return
			}
			time.Sleep(time.Second << attempt)
		}
	}()
}

// readList reads the outside list; an absent one is empty.
func readList(ctx context.Context, b blob.Backend) (*archives.List, error) {
	rc, err := b.Get(ctx, archives.ListID)
	if errors.Is(err, blob.ErrNotFound) {
		return &archives.List{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	var l archives.List
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("archives list: %w", err)
	}
	return &l, nil
}

// recordDestroyed merges the destroyed archives of this node's state into
// the outside list, each signed with the platform's key.
func (n *Node) recordDestroyed(ctx context.Context, c *cluster.Node, b blob.Backend) error {
	have, err := readList(ctx, b)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, r := range have.Destroyed {
		known[r.Subject] = true
	}
	mine := &archives.List{}
	err = c.State().View(func(tx *state.ReadTx) error {
		auth, err := agreements.GetAuthority(tx)
		if err != nil || auth == nil {
			return fmt.Errorf("no e-signing authority to sign the destroyed-archives list: %v", err)
		}
		keys, err := auth.Open(c.Keys(), n.opts.Now)
		if err != nil {
			return err
		}
		return tx.ForEach(archives.Bucket, func(k, v []byte) error {
			var a archives.Archive
			if err := json.Unmarshal(v, &a); err != nil || a.Destroyed == nil || known[a.Subject] {
				return err
			}
			sig, err := keys.Platform.Key.Sign(a.Destroyed.Manifest)
			if err != nil {
				return err
			}
			mine.Destroyed = append(mine.Destroyed, archives.Record{Subject: a.Subject, Manifest: a.Destroyed.Manifest, Signature: sig})
			return nil
		})
	})
	if err != nil || !have.Merge(mine) {
		return err
	}
	raw, _ := json.Marshal(have)
	return b.Put(ctx, archives.ListID, bytes.NewReader(raw), int64(len(raw)))
}

// stale reads the outside list and returns the records whose subject's key
// this node's state holds alive.
func (n *Node) stale(ctx context.Context, c *cluster.Node, b blob.Backend) ([]archives.Record, error) {
	l, err := readList(ctx, b)
	if err != nil || len(l.Destroyed) == 0 {
		return nil, err
	}
	var out []archives.Record
	var forged []string
	err = c.State().View(func(tx *state.ReadTx) (err error) {
		out, forged, err = l.Stale(archives.FromRead(tx))
		return err
	})
	if len(forged) > 0 {
		n.log.Error("the destroyed-archives list in the blob store holds records the platform did not sign; they are ignored", "subjects", forged)
	}
	return out, err
}

// checkDestroyed withholds the node's state while it holds a destroyed
// archive's key (or, when the node opens, the list cannot be read to
// tell).
func (n *Node) checkDestroyed(ctx context.Context, c *cluster.Node, b blob.Backend, first bool) []archives.Record {
	stale, err := n.stale(ctx, c, b)
	switch {
	case err != nil && !first:
		n.log.Warn("cannot read the destroyed-archives list; the next check retries", "err", err)
	case err != nil:
		e := errs.Coded("", errs.Unavailable, codeRestored, "the node cannot read the destroyed-archives list in the blob store, so it serves nothing until it can: %v", err)
		n.withhold.Store(&e)
		n.log.Error("cannot read the destroyed-archives list; serving nothing until it can", "err", err)
	case len(stale) > 0:
		e := errs.Coded("", errs.Unavailable, codeRestored, "this node's state came back from before %d archive destruction(s): it serves nothing until they are applied again", len(stale))
		n.withhold.Store(&e)
		n.log.Error("the state holds the keys of destroyed archives (restored from an earlier copy); serving nothing until the destructions are applied again", "archives", len(stale))
	default:
		n.withhold.Store(nil)
	}
	return stale
}

// guardDestroyed checks again whenever the state file is replaced (a
// follower's InstallSnapshot), and every two seconds while the node
// withholds its state, proposing while it leads the destructions its state
// lacks. A node serving normally reads nothing from the blob store.
func (n *Node) guardDestroyed(ctx context.Context, c *cluster.Node, b blob.Backend) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		var retry <-chan time.Time
		if n.withheld() != nil {
			retry = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-n.reloaded:
		case <-retry:
		}
		stale := n.checkDestroyed(ctx, c, b, false)
		if len(stale) == 0 || c.Status().Role != "leader" {
			continue
		}
		for _, rec := range stale {
			body, _ := json.Marshal(rec)
			if _, err := c.ProposeOK(ctx, state.NewCommand(archives.CmdReapply, body, n.opts.Now())); err != nil && ctx.Err() == nil {
				n.log.Error("applying an archive's destruction again failed", "subject", rec.Subject, "err", err)
			} else {
				n.log.Warn("an archive's destruction was applied again after a restore", "subject", rec.Subject)
			}
		}
	}
}
