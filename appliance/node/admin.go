package node

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/api"
)

// adminRoutes is the operator socket (0600 in the data folder): cluster
// membership and maintenance for whoever may read the data folder, and
// break-glass recovery for whoever also holds the master key.
func (n *Node) adminRoutes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/status", n.healthz).Methods(http.MethodGet)
	r.HandleFunc("/cluster/remove/{id}", n.adminRemove).Methods(http.MethodPost)
	r.HandleFunc("/cluster/transfer-leadership", n.adminTransfer).Methods(http.MethodPost)
	r.HandleFunc("/cluster/snapshot", n.adminSnapshot).Methods(http.MethodPost)
	r.HandleFunc("/break-glass", n.adminBreakGlass).Methods(http.MethodPost)
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

func (n *Node) adminAnswer(w http.ResponseWriter, err error) {
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, n.Status())
}
