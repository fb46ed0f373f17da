package reports

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"sort"
	"time"

	"cxt/gateway/feed"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket        = "gateway-reports"        // report ID -> Record
	IndexBucket   = "gateway-report-index"   // quarter \x00 office \x00 kind \x00 ID: keys only
	CurrentBucket = "gateway-report-current" // quarter \x00 office \x00 kind -> the current report's ID; "no" -> the last issue number
)

// Command types (command set state.GatewaySet).
const (
	CmdIssue = "report.issue" // record an issued report; with supersedes, void the one it corrects
	CmdVoid  = "report.void"  // void a current report without a replacement
)

// Feed entry types, version 1.
const (
	FactIssued = "report.issued"
	FactVoided = "report.voided"
)

// Refusals besides the general ones.
var (
	CodeQuarter     = state.NewCode(state.KindInvalid, "report_quarter_invalid")
	CodeQuarterOpen = state.NewCode(state.KindConflict, "report_quarter_open")
	CodeTemplate    = state.NewCode(state.KindInvalid, "report_template_unknown")
	CodeCurrent     = state.NewCode(state.KindConflict, "report_current_exists")
	CodeSupersedes  = state.NewCode(state.KindConflict, "report_supersedes_mismatch")
	CodeVoided      = state.NewCode(state.KindConflict, "report_voided")
)

func reject(c state.Code, format string, args ...any) error { return state.Reject(c, format, args...) }

// Record is an issued report as the state keeps it: its signed head and
// signature (not its bytes, which the caller keeps, e.g. in the document
// store, and names in Document), and whether it is still the current one
// of its quarter, office and kind. A voided report is kept.
type Record struct {
	No           uint64     `json:"no"` // the platform's issue number: 1, 2, 3…
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Quarter      string     `json:"quarter"`
	Office       string     `json:"office"` // "" for the platform's own
	Template     string     `json:"template"`
	Format       string     `json:"format"`
	Rows         int        `json:"rows"`
	SM3          string     `json:"sm3"`
	Head         string     `json:"head"`      // the signed bytes
	Signature    []byte     `json:"signature"` // DER SM2 over Head
	Supersedes   string     `json:"supersedes,omitempty"`
	Document     string     `json:"document,omitempty"`
	By           string     `json:"by"`
	Issued       time.Time  `json:"issued"`
	Current      bool       `json:"current"`
	Voided       *time.Time `json:"voided,omitempty"`
	VoidedBy     string     `json:"voided_by,omitempty"`     // the account that voided it, for a void
	SupersededBy string     `json:"superseded_by,omitempty"` // the report that corrected it
	VoidReason   string     `json:"void_reason,omitempty"`
}

// Issue is the body of CmdIssue.
type Issue struct {
	Head      string `json:"head"`      // the head exactly as signed
	Signature []byte `json:"signature"` // DER
	Document  string `json:"document,omitempty"`
	By        string `json:"by"`
}

// Void is the body of CmdVoid.
type Void struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// IssueCommand is the command that records rep as issued by account by;
// document names where its bytes are kept, if anywhere.
func (rep *Report) IssueCommand(by, document string, now time.Time) *state.Command {
	b, _ := json.Marshal(Issue{Head: string(rep.HeadBytes), Signature: rep.Signature, Document: document, By: by})
	return state.NewCommand(CmdIssue, b, now)
}

// VoidCommand is the command that voids report id.
func VoidCommand(id, reason, by string, now time.Time) *state.Command {
	b, _ := json.Marshal(Void{ID: id, Reason: reason, By: by})
	return state.NewCommand(CmdVoid, b, now)
}

// Register adds the reports' buckets and commands. The feed's buckets are
// registered by whoever composes the gateway (feed.Register).
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.KeysBucket(IndexBucket)
	reg.Bucket(CurrentBucket)
	reg.HandleFrom(state.GatewaySet, CmdIssue, applyIssue)
	reg.HandleFrom(state.GatewaySet, CmdVoid, applyVoid)
}

var (
	officePattern = regexp.MustCompile(`^1[0-9]{10}$`)
	sm3Pattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	wordPattern   = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)
)

// parseHead reads a signed head and checks its form. It checks nothing a
// newer cxt might answer differently (whether the template is one this
// binary embeds, whether the office's area is known): the proposer did,
// and every replica must decide alike.
func parseHead(s string) (Head, string, error) {
	var h Head
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, "", reject(state.InvalidRequest, "a report head: %v", err)
	}
	if h.Protocol != Protocol || !idPattern.MatchString(h.ID) || (h.Supersedes != "" && !idPattern.MatchString(h.Supersedes)) ||
		!wordPattern.MatchString(h.Template) || (h.Format != FormatCSV && h.Format != FormatJSON) ||
		!sm3Pattern.MatchString(h.SM3) || h.Rows < 0 || h.Supersedes == h.ID {
		return h, "", reject(state.InvalidRequest, "report head %q is not one Generate makes", h.ID)
	}
	if _, ok := Fields[h.Kind]; !ok {
		return h, "", reject(state.InvalidRequest, "no kind of report %q", h.Kind)
	}
	if _, err := ParseQuarter(h.Quarter); err != nil {
		return h, "", err
	}
	if _, err := time.Parse(time.RFC3339Nano, h.Generated); err != nil {
		return h, "", reject(state.InvalidRequest, "report head %s: generated %q", h.ID, h.Generated)
	}
	office := h.Office
	switch {
	case office == PlatformOffice:
		office = ""
	case !officePattern.MatchString(office):
		return h, "", reject(state.InvalidRequest, "report head %s: office %q is a tax office code or %s", h.ID, h.Office, PlatformOffice)
	}
	return h, office, nil
}

func slotKey(quarter, office, kind string) []byte {
	return []byte(quarter + "\x00" + office + "\x00" + kind)
}

func applyIssue(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Issue
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Head == "" || len(in.Signature) == 0 || len(in.Signature) > 128 || in.By == "" {
		return nil, reject(state.InvalidRequest, "an issued report has its signed head, its signature and who issued it")
	}
	h, office, err := parseHead(in.Head)
	if err != nil {
		return nil, err
	}
	if v, err := tx.Get(Bucket, []byte(h.ID)); err != nil {
		return nil, err
	} else if v != nil {
		return nil, reject(state.Conflict, "report %s was issued already", h.ID)
	}
	slot := slotKey(h.Quarter, office, h.Kind)
	cur, err := tx.Get(CurrentBucket, slot)
	if err != nil {
		return nil, err
	}
	switch {
	case h.Supersedes == "" && cur != nil:
		return nil, reject(CodeCurrent, "report %s is the current %s report of %s for %s: a correction supersedes it, or it is voided first",
			cur, h.Kind, OfficeName(office), h.Quarter)
	case h.Supersedes != "" && string(cur) != h.Supersedes:
		return nil, reject(CodeSupersedes, "report %s is not the current %s report of %s for %s", h.Supersedes, h.Kind, OfficeName(office), h.Quarter)
	}
	no, err := nextNo(tx)
	if err != nil {
		return nil, err
	}
	now := tx.Time()
	if h.Supersedes != "" {
		old, err := Get(tx, h.Supersedes)
		if err != nil {
			return nil, err
		}
		old.Current, old.Voided, old.SupersededBy, old.VoidReason = false, &now, h.ID, "superseded by "+h.ID
		if err := putVoided(tx, old); err != nil {
			return nil, err
		}
	}
	rec := &Record{No: no, ID: h.ID, Kind: h.Kind, Quarter: h.Quarter, Office: office, Template: h.Template, Format: h.Format,
		Rows: h.Rows, SM3: h.SM3, Head: in.Head, Signature: in.Signature, Supersedes: h.Supersedes, Document: in.Document,
		By: in.By, Issued: now, Current: true}
	if err := put(tx, rec); err != nil {
		return nil, err
	}
	if err := tx.Put(IndexBucket, append(slotKey(h.Quarter, office, h.Kind), append([]byte{0}, h.ID...)...), nil); err != nil {
		return nil, err
	}
	if err := tx.Put(CurrentBucket, slot, []byte(h.ID)); err != nil {
		return nil, err
	}
	_, err = feed.Append(tx, feed.Fact{Type: FactIssued, Version: 1, Office: office, Payload: issuedFact{
		ID: rec.ID, Kind: rec.Kind, Quarter: rec.Quarter, Template: rec.Template, Format: rec.Format, Rows: rec.Rows,
		SM3: rec.SM3, Supersedes: rec.Supersedes, Head: rec.Head, Signature: rec.Signature}})
	if err != nil {
		return nil, err
	}
	return json.Marshal(rec)
}

func applyVoid(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Void
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.ID == "" || in.Reason == "" || in.By == "" {
		return nil, reject(state.InvalidRequest, "a void names the report, why, and who voids it")
	}
	rec, err := Get(tx, in.ID)
	if err != nil {
		return nil, err
	}
	if !rec.Current {
		return nil, reject(CodeVoided, "report %s was voided already", in.ID)
	}
	now := tx.Time()
	rec.Current, rec.Voided, rec.VoidedBy, rec.VoidReason = false, &now, in.By, in.Reason
	if err := tx.Delete(CurrentBucket, slotKey(rec.Quarter, rec.Office, rec.Kind)); err != nil {
		return nil, err
	}
	if err := putVoided(tx, rec); err != nil {
		return nil, err
	}
	return json.Marshal(rec)
}

// nextNo takes the next issue number.
func nextNo(tx *state.Tx) (uint64, error) {
	v, err := tx.Get(CurrentBucket, []byte("no"))
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, tx.Put(CurrentBucket, []byte("no"), binary.BigEndian.AppendUint64(nil, n))
}

// putVoided stores a report just voided and tells the feed.
func putVoided(tx *state.Tx, rec *Record) error {
	if err := put(tx, rec); err != nil {
		return err
	}
	_, err := feed.Append(tx, feed.Fact{Type: FactVoided, Version: 1, Office: rec.Office, Payload: voidedFact{
		ID: rec.ID, Kind: rec.Kind, Quarter: rec.Quarter, Reason: rec.VoidReason, SupersededBy: rec.SupersededBy}})
	return err
}

// issuedFact is a report.issued entry's payload (version 1): the report's
// identity and its signed head, so a bureau can check from the feed alone
// the report it downloads. It holds no personal data.
type issuedFact struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Quarter    string `json:"quarter"`
	Template   string `json:"template"`
	Format     string `json:"format"`
	Rows       int    `json:"rows"`
	SM3        string `json:"sm3"`
	Supersedes string `json:"supersedes,omitempty"`
	Head       string `json:"head"`
	Signature  []byte `json:"signature"` // base64 of the DER signature over head
}

// voidedFact is a report.voided entry's payload (version 1).
type voidedFact struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Quarter      string `json:"quarter"`
	Reason       string `json:"reason"`
	SupersededBy string `json:"superseded_by,omitempty"`
}

type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads an issued report; not_found if there is none.
func Get(tx getter, id string) (*Record, error) {
	v, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, reject(state.NotFound, "no report %s", id)
	}
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func put(tx *state.Tx, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Put(Bucket, []byte(rec.ID), b)
}

// List returns the reports issued for a quarter and an office ("" for the
// platform's own), every kind, current and voided, in the order they were
// issued; Current marks the one of each kind in force.
func List(r *state.ReadTx, quarter, office string) ([]*Record, error) {
	if office == PlatformOffice {
		office = ""
	}
	prefix := []byte(quarter + "\x00" + office + "\x00")
	var out []*Record
	err := r.Seek(IndexBucket, prefix, false, func(k, _ []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		id := k[bytes.LastIndexByte(k, 0)+1:]
		rec, err := Get(r, string(id))
		if err != nil {
			return false, err
		}
		out = append(out, rec)
		return true, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].No < out[j].No })
	return out, err
}
