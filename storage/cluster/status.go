package cluster

import "github.com/hashicorp/raft"

// Status is a node's view of the cluster, as /healthz shows it.
type Status struct {
	Node         string   `json:"node"`
	Role         string   `json:"role"` // leader, follower, candidate, shutdown
	Leader       string   `json:"leader"`
	LeaderAddr   string   `json:"leader_addr"`
	Term         uint64   `json:"term"`
	AppliedIndex uint64   `json:"applied_index"`
	CommitIndex  uint64   `json:"commit_index"`
	KeyTerm      uint32   `json:"key_term"`
	Servers      []Server `json:"servers"`
}

// Server is one member of the Raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Status reports the node's role, leader and indexes.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	s := Status{
		Node:         n.cfg.NodeID,
		Role:         roleName(n.raft.State()),
		Leader:       string(id),
		LeaderAddr:   string(addr),
		Term:         n.raft.CurrentTerm(),
		AppliedIndex: n.st.AppliedIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		KeyTerm:      n.keys.Active(),
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			s.Servers = append(s.Servers, Server{ID: string(srv.ID), Address: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
		}
	}
	return s
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}
