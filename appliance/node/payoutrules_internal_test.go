package node

import (
	"encoding/json"
	"errors"
	"testing"

	"cxt/appliance/tasks"
	"cxt/storage/state"
)

// records is a state as a map, for the rules' lookups.
type records map[string][]byte

func (m records) Get(bucket string, key []byte) ([]byte, error) {
	return m[bucket+"|"+string(key)], nil
}

// The node's payout rules ask appliance/tasks whether a payment may
// reference its task: only the paying merchant's, with the worker's work
// accepted.
func TestPaymentsReferenceOnlyAcceptedWorkOfTheMerchantsTasks(t *testing.T) {
	task, _ := json.Marshal(tasks.Task{ID: "t_1", Merchant: "m_a", Status: tasks.Open})
	accepted, _ := json.Marshal(tasks.Work{Task: "t_1", Worker: "w_1", Merchant: "m_a", Status: tasks.Accepted, Amount: "100.00"})
	submitted, _ := json.Marshal(tasks.Work{Task: "t_1", Worker: "w_2", Merchant: "m_a", Status: tasks.Submitted})
	st := records{
		tasks.Bucket + "|t_1":         task,
		tasks.WorkBucket + "|t_1/w_1": accepted,
		tasks.WorkBucket + "|t_1/w_2": submitted,
	}
	const acceptedFen = 10_000 // the work's 100.00
	check := PayoutRules().Task
	for _, c := range []struct{ task, merchant, worker, code string }{
		{"t_1", "m_a", "w_1", ""},
		{"t_1", "m_b", "w_1", "task_not_found"},
		{"t_9", "m_a", "w_1", "task_not_found"},
		{"t_1", "m_a", "w_2", "task_not_accepted"},
		{"t_1", "m_a", "w_3", "task_not_accepted"},
	} {
		accepted, err := check(st, c.task, c.merchant, c.worker)
		if c.code == "" && accepted != acceptedFen {
			t.Errorf("%+v: accepted for %d fen, want %d", c, accepted, acceptedFen)
		}
		code := ""
		var rej *state.Rejection
		if errors.As(err, &rej) {
			code = rej.Code
		} else if err != nil {
			code = err.Error()
		}
		if code != c.code {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
