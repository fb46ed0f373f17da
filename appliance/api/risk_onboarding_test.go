package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/merchants"
	"cxt/appliance/workers/workerstest"
	"cxt/policy"
	"cxt/storage/state"
)

// The risk decisions before a transaction, through the real pipeline and
// a policy change made with four eyes: a listed ID number cannot register,
// a listed merchant's task is refused by the policy, a consulting task
// waits for a person, an ordinary one opens at once — each publication
// and registration keeping the decision with its input.
func TestTheRiskRulesDecideRegistrationsAndPublications(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	_, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	// Before any list: an ordinary task opens at once, by the policy.
	open := e.newTask(bossB, "搬运", "logistics", `"1200.00"`, 1, true)
	rv := open["review"].(map[string]any)
	if open["status"] != "open" || rv["by"] != "policy" || rv["risk"].(map[string]any)["outcome"] != "allow" {
		t.Fatalf("an ordinary task: %v", open)
	}
	in, _ := json.Marshal(rv["risk"].(map[string]any)["input"])
	if sm3Of(in) != rv["risk"].(map[string]any)["input_sm3"] || !strings.Contains(string(in), `"budget_fen":120000`) ||
		!strings.Contains(string(in), `"grade":"C"`) {
		t.Fatalf("the publication's input %s", in)
	}
	// A consulting task waits for a person, the hit's reason shown.
	held := e.newTask(bossA, "咨询", "consulting", `"800.00"`, 1, true)
	if rv := held["review"].(map[string]any); held["status"] != "pending_review" || rv["risk"].(map[string]any)["rule"] != "task.category" ||
		rv["reasons"].([]any)[0] != "tasks of the category consulting are always reviewed" {
		t.Fatalf("a consulting task: %v", held)
	}

	// The platform lists person 7's ID number and merchant B.
	key, err := e.n.Cluster().State().Keys().IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	listed := merchants.PersonIndex(key, workerstest.ID(7))
	body := signedPolicy(t, e, sec, "lists-1", func(f policy.Files) {
		var data map[string]any
		if err := json.Unmarshal([]byte(f["risk/data.json"]), &data); err != nil {
			t.Fatal(err)
		}
		black := data["cxt"].(map[string]any)["risk_lists"].(map[string]any)["black"].(map[string]any)
		black["ids"], black["merchants"] = []any{listed}, []any{idB}
		raw, _ := json.MarshalIndent(data, "", "  ")
		f["risk/data.json"] = string(raw) + "\n"
	})
	id := e.proposed("PUT", "/api/v1/policy", sec, body, "lists-1")
	if r := e.approve(e.signIn("sysadmin"), id, "lists-1-ok"); r.status != 200 {
		t.Fatalf("set policy: %d %v", r.status, r.body)
	}

	// A listed ID number is refused with the rule's code; nothing is kept.
	if r := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(7), workerstest.ID(7), workerstest.Phone(7), "listed-7")); r.status != 409 ||
		r.code() != "risk_blacklisted" || !strings.Contains(r.message(), "blacklist") {
		t.Fatalf("a listed ID number registering: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers?id_number="+workerstest.ID(7), reviewer, ""); len(r.body["workers"].([]any)) != 0 {
		t.Fatalf("the refused registration left a worker: %v", r.body)
	}
	// Anyone else registers; the decision and the ID number's blind index
	// are on the record, the decision shown to platform staff only.
	w := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(8), workerstest.ID(8), workerstest.Phone(8), "person-8"))
	if w.status != 201 {
		t.Fatalf("register: %d %v", w.status, w.body)
	}
	wid := w.body["worker"].(map[string]any)["id"].(string)
	if r := e.call("GET", "/api/v1/workers/"+wid, reviewer, ""); r.body["risk"] == nil || r.body["risk"].(map[string]any)["policy"] != "lists-1" ||
		r.body["risk"].(map[string]any)["outcome"] != "allow" {
		t.Fatalf("the registration's decision as staff see it: %v", r.body)
	}
	if !strings.Contains(e.rawWorker(wid), merchants.PersonIndex(key, workerstest.ID(8))) {
		t.Fatal("the worker's record has no blind index of their ID number")
	}

	// Merchant B's next task is refused for good by the policy.
	refused := e.newTask(bossB, "搬运二", "logistics", `"1200.00"`, 1, true)
	rv = refused["review"].(map[string]any)
	if refused["status"] != "rejected" || rv["by"] != "policy" || rv["decision"] != "reject" ||
		rv["risk"].(map[string]any)["rule"] != "lists.merchant" || rv["risk"].(map[string]any)["policy"] != "lists-1" {
		t.Fatalf("a listed merchant's task: %v", refused)
	}
	if r := e.call("POST", "/api/v1/tasks/"+refused["id"].(string)+"/review", reviewer, `{"decision":"approve","reason":"还是批准"}`); r.status != 409 {
		t.Fatalf("a task the policy refused reviewed again: %d %v", r.status, r.body)
	}
}

// rawWorker is a worker's record as stored.
func (e *env) rawWorker(id string) string {
	var out []byte
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		b, err := tx.Get("workers", []byte(id))
		out = b
		return err
	})
	return string(out)
}
