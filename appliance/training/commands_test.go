package training

import (
	"encoding/json"
	"regexp"
	"testing"

	"cxt/appliance/workers"
	"cxt/appliance/workers/partiestest"
)

type world struct{ *partiestest.World }

func newWorld(t *testing.T) *world { return &world{partiestest.NewWorld(t, Register)} }

func (w *world) course(id string, passMark int, publish bool) {
	w.T.Helper()
	w.Must(w.Send(CmdCourse, CourseIn{ID: id, Title: "仓储安全作业", Category: "logistics", RequiredFor: []string{"logistics", "delivery"}, PassMark: passMark, By: "ops"}))
	if publish {
		w.Must(w.Send(CmdStatus, StatusIn{Course: id, To: Published, By: "ops"}))
	}
}

// A merchant enrols only its own workers; another merchant's worker is
// refused as absent, as is a worker who does not exist; a draft or
// retired course takes nobody, and nobody is enrolled twice.
func TestAMerchantEnrolsOnlyItsOwnWorkersOnAPublishedCourse(t *testing.T) {
	w := newWorld(t)
	w.Merchant("m_a")
	w.Merchant("m_b")
	wa, wb := w.Worker(1, "m_a"), w.Worker(2, "m_b")
	w.course("c_draft", 60, false)
	w.course("c_1", 60, true)

	w.Refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: wb, Merchant: "m_a", By: "acct-m_a"}, "training_worker_not_yours")
	w.Refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: "w_404", Merchant: "m_a", By: "acct-m_a"}, "training_worker_not_yours")
	w.Refused(CmdEnrol, EnrolIn{Course: "c_draft", Worker: wa, Merchant: "m_a", By: "acct-m_a"}, "training_course_not_open")
	w.Refused(CmdEnrol, EnrolIn{Course: "c_404", Worker: wa, Merchant: "m_a", By: "acct-m_a"}, "not_found")
	if got, _ := ForWorker(w.Getter(), wb); len(got) != 0 {
		t.Fatalf("a refused enrolment left a record: %+v", got)
	}

	w.Must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, Merchant: "m_a", By: "acct-m_a"}))
	w.Refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, By: "acct-" + wa}, "training_enrolled")
	w.Must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wb, By: "acct-" + wb})) // a worker enrols themself

	w.Must(w.Send(CmdStatus, StatusIn{Course: "c_1", To: Retired, By: "ops"}))
	w.Refused(CmdStatus, StatusIn{Course: "c_1", To: Published, By: "ops"}, "training_course_status")
	w.Worker(3, "m_a")
	w.Refused(CmdEnrol, EnrolIn{Course: "c_1", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}, "training_course_not_open")

	// A cancelled worker is enrolled in nothing new, nor given a result.
	w.course("c_2", 60, true)
	w.course("c_3", 60, true)
	w.Must(w.Send(CmdEnrol, EnrolIn{Course: "c_2", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}))
	partiestest.Cancel(t, w.Machine, "w_3")
	w.Refused(CmdEnrol, EnrolIn{Course: "c_3", Worker: "w_3", Merchant: "m_a", By: "acct-m_a"}, "worker_restricted")
	w.Refused(CmdResult, ResultIn{Course: "c_2", Worker: "w_3", Score: 95, Merchant: "m_a", By: "acct-m_a"}, "worker_restricted")
}

// Results: only the enrolling merchant (or the platform, merchant "")
// records one; a failed result may be recorded again, a pass is final and
// numbered; ForWorker returns the enrolment with its dates.
func TestResultsAreTheEnrollingMerchantsAndAPassIsNumberedOnce(t *testing.T) {
	w := newWorld(t)
	w.Merchant("m_a")
	w.Merchant("m_b")
	wa := w.Worker(1, "m_a")
	w.Must(w.Send(workers.CmdInvite, workers.Invitation{Merchant: "m_b", By: "acct-m_b", Rows: []workers.Invitee{{Row: 1, ID: wa}}}))
	w.Must(w.Send(workers.CmdAccept, workers.Acceptance{Worker: wa, Merchant: "m_b", By: "acct-" + wa}))
	w.course("c_1", 60, true)
	w.Must(w.Send(CmdEnrol, EnrolIn{Course: "c_1", Worker: wa, Merchant: "m_a", By: "acct-m_a"}))

	// B is linked to the worker too, but did not enrol them.
	w.Refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 90, Merchant: "m_b", By: "acct-m_b"}, "training_not_enrolled")
	w.Refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 101, Merchant: "m_a", By: "acct-m_a"}, "invalid_request")

	var e Enrolment
	json.Unmarshal(w.Must(w.Send(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 59, Merchant: "m_a", By: "acct-m_a"})), &e)
	if e.Status != Failed || e.Certificate != "" || e.Attempts != 1 {
		t.Fatalf("59 against a pass mark of 60: %+v", e)
	}
	json.Unmarshal(w.Must(w.Send(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 60, By: "ops"})), &e)
	if e.Status != Passed || e.Attempts != 2 || !regexp.MustCompile(`^TRC-[0-9]{8}-000001$`).MatchString(e.Certificate) {
		t.Fatalf("60 against a pass mark of 60: %+v", e)
	}
	w.Refused(CmdResult, ResultIn{Course: "c_1", Worker: wa, Score: 95, Merchant: "m_a", By: "acct-m_a"}, "training_completed")

	got, err := ForWorker(w.Getter(), wa)
	if err != nil || len(got) != 1 || got[0].Certificate != e.Certificate || got[0].Enrolled.IsZero() || got[0].Completed.IsZero() || *got[0].Score != 60 {
		t.Fatalf("ForWorker: %+v %v", got, err)
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
