package callbacks

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// cmdEnqueue stands in for another domain's command: it registers the
// endpoints it is given and enqueues an event, as a payout's state change
// will.
const cmdEnqueue = "test.enqueue"

type enqueueBody struct {
	Merchant  string            `json:"merchant"`
	Endpoints map[string]string `json:"endpoints"` // client -> URL; "" removes
	Event     string            `json:"event"`
	Data      any               `json:"data"`
}

func registerForTest(reg *state.Registry) {
	Register(reg)
	reg.HandleFrom(state.MoneySet, cmdEnqueue, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var b enqueueBody
		if err := json.Unmarshal(cmd.Body, &b); err != nil {
			return nil, err
		}
		for c, url := range b.Endpoints {
			var err error
			if url == "" {
				err = RemoveEndpoint(tx, b.Merchant, c)
			} else {
				err = SetEndpoint(tx, b.Merchant, c, url)
			}
			if err != nil {
				return nil, err
			}
		}
		if b.Event == "" {
			return nil, nil
		}
		ds, err := enqueue(tx, b.Merchant, b.Event, b.Data)
		if err != nil {
			return nil, err
		}
		return json.Marshal(ds)
	})
}

func deliveries(t *testing.T, res state.Result) []Delivery {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("refused: %v", res.Err)
	}
	var ds []Delivery
	if err := json.Unmarshal(res.Value, &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func due(t *testing.T, m *statetest.Machine, at time.Time) []Due {
	t.Helper()
	var out []Due
	m.State.View(func(tx *state.ReadTx) error {
		var err error
		out, err = DueAt(tx, at, 100)
		return err
	})
	return out
}

func TestAnEventGoesToEachEndpointOfItsMerchantOnly(t *testing.T) {
	m := statetest.New(t, registerForTest)
	m.Send(cmdEnqueue, enqueueBody{Merchant: "m_2", Endpoints: map[string]string{"cl_c": "https://b.example/cb"}})
	ds := deliveries(t, m.Send(cmdEnqueue, enqueueBody{Merchant: "m_1",
		Endpoints: map[string]string{"cl_a": "https://a.example/cb", "cl_b": "https://a.example/other"},
		Event:     EventPaymentPaid, Data: map[string]any{"payment": "p_1", "amount": "100.00"}}))
	if len(ds) != 2 || ds[0].Client != "cl_a" || ds[1].Client != "cl_b" || ds[0].ID == ds[1].ID {
		t.Fatalf("deliveries: %+v", ds)
	}
	var env map[string]any
	if err := json.Unmarshal(ds[0].Body, &env); err != nil || env["id"] != ds[0].ID || env["event"] != EventPaymentPaid ||
		env["merchant"] != "m_1" || env["data"].(map[string]any)["payment"] != "p_1" {
		t.Fatalf("body %s (%v)", ds[0].Body, err)
	}
	got := due(t, m, time.Now().Add(time.Second))
	if len(got) != 2 || got[0].URL == "" {
		t.Fatalf("due: %+v", got)
	}
	// A merchant without endpoints is told nothing; a bad event is refused.
	if ds := deliveries(t, m.Send(cmdEnqueue, enqueueBody{Merchant: "m_3", Event: EventPaymentFailed})); len(ds) != 0 {
		t.Fatalf("a merchant without endpoints got %+v", ds)
	}
	if res := m.Send(cmdEnqueue, enqueueBody{Merchant: "m_1", Event: "Payment Paid"}); res.Err == nil {
		t.Fatal("an event name with spaces was enqueued")
	}
}

func outcome(m *statetest.Machine, d Delivery, try int, status int, retry time.Duration) state.Result {
	o := Outcome{Merchant: d.Merchant, ID: d.ID, Round: d.Round, Try: try, Status: status, RetryIn: retry, Node: "n1"}
	if status == 0 || status >= 300 {
		o.Error = "answered " + strconv.Itoa(status)
	}
	return m.Send(CmdAttempt, o)
}

func TestTriesAreRecordedOnceEachUntilDeliveredOrDeadAndAReplayStartsAgain(t *testing.T) {
	m := statetest.New(t, registerForTest)
	start := time.Now()
	m.Now = start
	d := deliveries(t, m.Send(cmdEnqueue, enqueueBody{Merchant: "m_1", Endpoints: map[string]string{"cl_a": "https://a.example/cb"}, Event: "batch.confirmed"}))[0]

	// A failure schedules the next try; the same outcome again is stale.
	if res := outcome(m, d, 1, 503, time.Minute); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := outcome(m, d, 1, 200, 0); res.Err == nil || res.Err.Code != CodeStale.String() {
		t.Fatalf("a second outcome of try 1: %v", res.Err)
	}
	if got := due(t, m, start.Add(30*time.Second)); len(got) != 0 {
		t.Fatalf("due before its backoff: %+v", got)
	}
	if got := due(t, m, start.Add(61*time.Second)); len(got) != 1 || got[0].Delivery.Tries != 1 {
		t.Fatalf("due after its backoff: %+v", got)
	}
	res := outcome(m, d, 2, 200, 0)
	var after Delivery
	json.Unmarshal(res.Value, &after)
	if res.Err != nil || after.Status != Delivered || len(after.Attempts) != 2 || after.Attempts[0].Status != 503 || after.Attempts[1].Status != 200 {
		t.Fatalf("delivered: %+v %v", after, res.Err)
	}
	if got := due(t, m, start.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("a delivered callback is still due: %+v", got)
	}

	// A replay: round 2, due at once, the same body.
	if res := m.Send(CmdReplay, Replay{Merchant: "m_1", ID: d.ID, By: "acct-1"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Send(CmdReplay, Replay{Merchant: "m_1", ID: d.ID, By: "acct-1"}); res.Err == nil {
		t.Fatal("a pending delivery was replayed")
	}
	got := due(t, m, start.Add(time.Second))
	if len(got) != 1 || got[0].Delivery.Round != 2 || got[0].Delivery.Tries != 0 || string(got[0].Delivery.Body) != string(d.Body) {
		t.Fatalf("after the replay: %+v", got)
	}
	// The round-1 numbering is stale now; out of tries (retry 0) is dead.
	if res := outcome(m, got[0].Delivery.withRound(1), 3, 500, time.Minute); res.Err == nil {
		t.Fatal("an outcome of round 1 was taken in round 2")
	}
	if res := outcome(m, *got[0].Delivery, 1, 500, 0); res.Err != nil {
		t.Fatal(res.Err)
	}
	var dead *Delivery
	m.State.View(func(tx *state.ReadTx) error { dead, _ = Get(tx, "m_1", d.ID); return nil })
	if dead.Status != Dead || len(dead.Attempts) != 3 || dead.Attempts[2].Round != 2 {
		t.Fatalf("dead: %+v", dead)
	}

	// The client revoked: its endpoint is gone and a replay is refused.
	m.Send(cmdEnqueue, enqueueBody{Merchant: "m_1", Endpoints: map[string]string{"cl_a": ""}})
	if res := m.Send(CmdReplay, Replay{Merchant: "m_1", ID: d.ID, By: "acct-1"}); res.Err == nil || res.Err.Code != CodeNoEndpoint.String() {
		t.Fatalf("a replay to a revoked client: %v", res.Err)
	}
}

func (d Delivery) withRound(n int) Delivery { d.Round = n; return d }

func TestAKeyIsInstalledOnceAndRacingLeadersAgree(t *testing.T) {
	m := statetest.New(t, registerForTest)
	k1, _ := NewKey(m.Keys, time.Now())
	k2, _ := NewKey(m.Keys, time.Now())
	r1, r2 := m.Send(CmdKey, k1), m.Send(CmdKey, k2)
	if r1.Err != nil || r2.Err != nil || string(r1.Value) != string(r2.Value) || !strings.Contains(string(r2.Value), k1.Fingerprint) {
		t.Fatalf("the second key replaced the first: %s / %s", r1.Value, r2.Value)
	}
	bad := *k2
	bad.Fingerprint = k1.Fingerprint
	if res := m.Send(CmdKey, bad); res.Err == nil {
		t.Fatal("a key whose fingerprint is another's was taken")
	}
	var k *Key
	m.State.View(func(tx *state.ReadTx) error { k, _ = GetKey(tx); return nil })
	priv, err := OpenKey(m.Keys, k)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := priv.Sign([]byte("body"))
	pub := priv.Public()
	if !pub.Verify([]byte("body"), sig) {
		t.Fatal("the unwrapped key does not sign")
	}
}

func TestCallbackURLsAreHTTPSToThePublicNetwork(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://pay.example.cn/cxt/callback":     true,
		"https://pay.example.cn:8443/cb?x=1":      true,
		"https://203.0.113.10/cb":                 true,
		"http://pay.example.cn/cb":                false,
		"https://user:pw@pay.example.cn/cb":       false,
		"https://pay.example.cn/cb#frag":          false,
		"https:///cb":                             false,
		"https://127.0.0.1:9000/cb":               false,
		"https://10.1.2.3/cb":                     false,
		"https://192.168.1.1/cb":                  false,
		"https://169.254.169.254/latest/metadata": false,
		"https://[::1]/cb":                        false,
		"https://[fd00::1]/cb":                    false,
		"https://localhost/cb":                    false,
		"https://100.64.0.1/cb":                   false,
		"https://pay.example.cn:99999/cb":         false,
		"ftp://pay.example.cn/cb":                 false,
	} {
		if _, err := CheckURL(raw, false); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", raw, err, ok)
		}
	}
	if _, err := CheckURL("https://127.0.0.1:9000/cb", true); err != nil {
		t.Errorf("loopback with private addresses allowed: %v", err)
	}
	if _, err := CheckURL("http://127.0.0.1:9000/cb", true); err == nil {
		t.Error("http was taken because private addresses are allowed")
	}
}

func TestBackoffDoublesToItsCapAndEnds(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Cap: time.Minute, MaxAttempts: 6}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, 0}
	for i, w := range want {
		if got := b.After(i + 1); got != w {
			t.Errorf("after try %d: %s, want %s", i+1, got, w)
		}
	}
}
