package node

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// adminRoutes is the operator socket (0600 in the data folder): cluster
// membership and maintenance for whoever may read the data folder, and
// break-glass recovery and rekeying for whoever also holds the master key.
func (n *Node) adminRoutes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/status", n.healthz).Methods(http.MethodGet)
	r.HandleFunc("/cluster/remove/{id}", n.adminRemove).Methods(http.MethodPost)
	r.HandleFunc("/cluster/transfer-leadership", n.adminTransfer).Methods(http.MethodPost)
	r.HandleFunc("/cluster/snapshot", n.adminSnapshot).Methods(http.MethodPost)
	r.HandleFunc("/cluster/command-set/{set}", n.adminCommandSet).Methods(http.MethodPost)
	r.HandleFunc("/break-glass", n.adminBreakGlass).Methods(http.MethodPost)
	r.HandleFunc("/rekey", n.adminRekey).Methods(http.MethodPost)
	r.HandleFunc("/rekey/verify", n.adminRekeyVerify).Methods(http.MethodPost)
	r.HandleFunc("/rekey/cancel", n.adminRekeyCancel).Methods(http.MethodPost)
	return r
}

func (n *Node) adminRemove(w http.ResponseWriter, r *http.Request) {
	c, err := n.active()
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		err = c.RemoveServer(ctx, mux.Vars(r)["id"])
	}
	n.adminAnswer(w, err)
}

func (n *Node) adminTransfer(w http.ResponseWriter, r *http.Request) {
	c, err := n.active()
	if err == nil {
		err = c.TransferLeadership()
	}
	n.adminAnswer(w, err)
}

func (n *Node) adminSnapshot(w http.ResponseWriter, r *http.Request) {
	c, err := n.active()
	if err == nil {
		err = c.Raft().Snapshot().Error()
	}
	n.adminAnswer(w, err)
}

// adminCommandSet raises the command set the cluster speaks (see
// state.CmdCommandSet). Nodes whose binary does not speak it stop, so the
// operator runs it once every node is upgraded; a set this node's binary
// does not speak is refused here.
func (n *Node) adminCommandSet(w http.ResponseWriter, r *http.Request) {
	c, err := n.active()
	if err == nil {
		set, perr := strconv.ParseUint(mux.Vars(r)["set"], 10, 32)
		switch {
		case perr != nil || set == 0:
			err = errs.E("command set", errs.Invalid, "a command set is a positive number")
		case uint32(set) > c.State().Speaks():
			err = errs.E("command set", errs.Invalid, "this cxt speaks command sets up to %d; upgrade every node first", c.State().Speaks())
		default:
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			cmd := state.CommandSetCommand(uint32(set), time.Now())
			cmd.Audit = auditlog.Context{Subject: "operator:" + n.cfg.NodeID, Source: "operator socket", Action: "command_set",
				Object: "command set " + strconv.FormatUint(set, 10)}.Encode()
			_, err = c.ProposeOK(ctx, cmd)
		}
	}
	n.adminAnswer(w, err)
}

func (n *Node) adminAnswer(w http.ResponseWriter, err error) {
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, n.Status())
}
