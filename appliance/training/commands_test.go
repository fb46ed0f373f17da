package training

import (
	"encoding/json"
	"regexp"
	"testing"

	"cxt/appliance/workers"
	"cxt/appliance/workers/partiestest"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

type world struct {
	*statetest.Machine
	t *testing.T
}

func newWorld(t *testing.T) *world {
	return &world{Machine: statetest.New(t, func(reg *state.Registry) {
		partiestest.Register(reg)
		Register(reg)
	}), t: t}
}

func (w *world) must(res state.Result) []byte {
	w.t.Helper()
	if res.Err != nil {
		w.t.Fatalf("refused: %v", res.Err)
	}
	return res.Value
}

func (w *world) refused(typ string, body any, code string) {
	w.t.Helper()
	if got := statetest.Code(w.Send(typ, body).Err); got != code {
		w.t.Errorf("%s %+v: refused with %q, want %q", typ, body, got, code)
	}
}

func (w *world) merchant(id string) { w.t.Helper(); partiestest.Merchant(w.t, w.Machine, id) }

// worker registers worker n, linked to merchant (invited by it and
// accepted).
func (w *world) worker(n int, merchant string) string {
	w.t.Helper()
	return partiestest.Worker(w.t, w.Machine, n, merchant)
}

func (w *world) course(id string, passMark int, publish bool) {
	w.t.Helper()
	w.must(w.Send(CmdCourse, CourseIn{ID: id, Title: "仓储安全作业", Category: "logistics", RequiredFor: []string{"logistics", "delivery"}, PassMark: passMark, By: "ops"}))
	if publish {
		w.must(w.Send(CmdStatus, StatusIn{Course: id, To: Published, By: "ops"}))
	}
}

// A merchant enrols only its own workers; another merchant's worker is
// refused as absent, as is a worker who does not exist; a draft or
// retired course takes nobody, and nobody is enrolled twice.
func TestAMerchantEnrolsOnlyItsOwnWorkersOnAPublishedCourse(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a")
	w.merchant("m_b")
	wa, wb := w.worker(1, "m_a"), w.worker(2, "m_b")
	w.course("c_draft", 60, false)
	w.course("c_1", 60, true)

	w.refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: wb, Merchant: "m_a", By: "acct-m_a"}, "training_worker_not_yours")
	w.refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: "w_404", Merchant: "m_a", By: "acct-m_a"}, "training_worker_not_yours")
	w.refused(CmdEnrol, EnrolIn{Course: "c_draft", Worker: wa, Merchant: "m_a", By: "acct-m_a"}, "training_course_not_open")
	w.refused(CmdEnrol, EnrolIn{Course: "c_404", Worker: wa, Merchant: "m_a", By: "acct-m_a"}, "not_found")
	if got, _ := ForWorker(w.getter(), wb); len(got) != 0 {
		t.Fatalf("a refused enrolment left a record: %+v", got)
	}

	w.must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, Merchant: "m_a", By: "acct-m_a"}))
	w.refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, By: "acct-" + wa}, "training_enrolled")
	w.must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wb, By: "acct-" + wb})) // a worker enrols themself

	w.must(w.Send(CmdStatus, StatusIn{Course: "c_1", To: Retired, By: "ops"}))
	w.refused(CmdStatus, StatusIn{Course: "c_1", To: Published, By: "ops"}, "training_course_status")
	w.worker(3, "m_a")
	w.refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}, "training_course_not_open")

	// A cancelled worker is enrolled in nothing new, nor given a result.
	w.course("c_2", 60, true)
	w.course("c_3", 60, true)
	w.must(w.Send(CmdEnrol, EnrolIn{Course: "c_2", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}))
	partiestest.Cancel(t, w.Machine, "w_3")
	w.refused(CmdEnrol, EnrolIn{Course: "c_3", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}, "worker_restricted")
	w.refused(CmdResult, ResultIn{Course: "c_2", Worker: "w_3", Score: 95, Merchant: "m_a", By: "acct-m_a"}, "worker_restricted")
}

// Results: only the enrolling merchant (or the platform, merchant "")
// records one; a failed result may be recorded again, a pass is final and
// numbered; ForWorker returns the enrolment with its dates.
func TestResultsAreTheEnrollingMerchantsAndAPassIsNumberedOnce(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a")
	w.merchant("m_b")
	wa := w.worker(1, "m_a")
	w.must(w.Send(workers.CmdInvite, workers.Invitation{Merchant: "m_b", By: "acct-m_b", Rows: []workers.Invitee{{Row: 1, ID: wa}}}))
	w.must(w.Send(workers.CmdAccept, workers.Acceptance{Worker: wa, Merchant: "m_b", By: "acct-" + wa}))
	w.course("c_1", 60, true)
	w.must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, Merchant: "m_a", By: "acct-m_a"}))

	// B is linked to the worker too, but did not enrol them.
	w.refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 90, Merchant: "m_b", By: "acct-m_b"}, "training_not_enrolled")
	w.refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 101, Merchant: "m_a", By: "acct-m_a"}, "invalid_request")

	var e Enrolment
	json.Unmarshal(w.must(w.Send(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 59, Merchant: "m_a", By: "acct-m_a"})), &e)
	if e.Status != Failed || e.Certificate != "" || e.Attempts != 1 {
		t.Fatalf("59 against a pass mark of 60: %+v", e)
	}
	json.Unmarshal(w.must(w.Send(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 60, By: "ops"})), &e)
	if e.Status != Passed || e.Attempts != 2 || !regexp.MustCompile(`^TRC-[0-9]{8}-000001$`).MatchString(e.Certificate) {
		t.Fatalf("60 against a pass mark of 60: %+v", e)
	}
	w.refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 95, Merchant: "m_a", By: "acct-m_a"}, "training_completed")

	got, err := ForWorker(w.getter(), wa)
	if err != nil || len(got) != 1 || got[0].Certificate != e.Certificate || got[0].Enrolled.IsZero() || got[0].Completed.IsZero() || *got[0].Score != 60 {
		t.Fatalf("ForWorker: %+v %v", got, err)
	}
}

// getter reads the committed state.
func (w *world) getter() func(bucket string, key []byte) ([]byte, error) {
	return func(bucket string, key []byte) (v []byte, err error) {
		w.State.View(func(tx *state.ReadTx) error { v, err = tx.Get(bucket, key); return nil })
		return v, err
	}
}

// What a material is is read from its bytes.
func TestMaterialsAreSniffed(t *testing.T) {
	mp4 := append([]byte{0, 0, 0, 0x18}, []byte("ftypisom\x00\x00\x02\x00")...)
	for _, c := range []struct {
		body []byte
		want string
	}{
		{[]byte("%PDF-1.7\n"), "application/pdf"},
		{mp4, MP4},
		{[]byte("\x00\x00\x00\x18ftyp\x01\x02\x03\x04"), ""},
		{[]byte("<html>"), ""},
		{[]byte("ftyp"), ""},
	} {
		if got := Sniff(c.body); got != c.want {
			t.Errorf("%q: %q, want %q", c.body, got, c.want)
		}
	}
}
