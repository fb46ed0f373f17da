package reports

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/crypto/sm"
	"cxt/gateway/bureaus"
	"cxt/gateway/platform"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves the quarterly reports: issued and voided by platform
// staff on the business API (Routes), read and downloaded by the bureaus
// on the gateway listener (GatewayRoutes).
type Backend struct {
	// Documents is the document store the reports' bytes are sealed in
	// (nil while the node is sealed).
	Documents func() *blob.Store
	signer    platform.Signer
}

// Register adds the reports' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the business API's endpoints of the reports.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/gateway/reports", Action: "gateway.reports.issue", Kind: api.Important, MaxBody: 4 << 10, Prepare: b.issue},
		{Method: "GET", Path: "/api/v1/gateway/reports", Action: "gateway.reports.read", Kind: api.Read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/gateway/reports/{id}", Action: "gateway.reports.read", Kind: api.Read, Resource: resource, Handle: b.get},
		{Method: "GET", Path: "/api/v1/gateway/reports/{id}/body", Action: "gateway.reports.download", Kind: api.Read, Resource: resource, Handle: b.body},
		{Method: "POST", Path: "/api/v1/gateway/reports/{id}/void", Action: "gateway.reports.void", Kind: api.Important, Resource: resource, MaxBody: 4 << 10, Prepare: b.void},
	}
}

// GatewayRoutes lists the gateway listener's endpoints of the reports.
func (b *Backend) GatewayRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/gateway/v1/reports", Action: "gateway.reports", Kind: api.Read, Handle: b.bureauList},
		{Method: "GET", Path: "/gateway/v1/reports/{id}", Action: "gateway.reports", Kind: api.Read, Handle: b.bureauGet},
		{Method: "GET", Path: "/gateway/v1/reports/{id}/body", Action: "gateway.reports", Kind: api.Read, Handle: b.bureauBody},
	}
}

// CodeNoProfile refuses a report to the platform's own office, or of its
// basic information, while no platform profile names that office.
const CodeNoProfile = "platform_profile_missing"

func invalid(field, format string, args ...any) error {
	return &errs.Error{Op: "report", Kind: errs.Invalid, Code: "invalid_request", Msg: fmt.Sprintf(format, args...), Field: field}
}

// issueIn is the body of an issue.
type issueIn struct {
	Kind       string `json:"kind"`
	Quarter    string `json:"quarter"`
	Office     string `json:"office"`
	Format     string `json:"format"`
	Template   string `json:"template"`
	Supersedes string `json:"supersedes"`
}

// target resolves the office a request names against the platform's
// profile: "", "platform" or the profile's own office code are the
// platform's own report, every merchant's, which its office receives (a
// report of that office's merchants alone would be a second, partial
// report to the same office).
func target(p *platform.Profile, office string) (string, error) {
	if office == "" || office == PlatformOffice || (p != nil && office == p.Office) {
		if p == nil {
			return "", errs.Coded("report", errs.Conflict, CodeNoProfile, "the platform's own office is named by its profile, and none is set yet: a system administrator sets it (PUT /api/v1/gateway/platform)")
		}
		return "", nil
	}
	return office, nil
}

// Info is the platform's basic information as its profile states it.
func Info(p *platform.Profile) *PlatformInfo {
	info := &PlatformInfo{Name: p.LegalName, Domains: []string{p.Domain}, BusinessType: p.BusinessType}
	for _, e := range p.Entities {
		info.Entities = append(info.Entities, Entity{USCC: e.USCC, Name: e.Name})
	}
	return info
}

// confirming reports whether an important operation's request is its
// confirm, which runs it, rather than its preview: the report's bytes are
// stored at the confirm only, as the preview changes nothing.
func confirming(r *api.Request) bool { return r.HTTP.Header.Get("X-Confirm-Token") != "" }

// issue generates a report, signs it with the gateway key and, at the
// confirm, seals its bytes in the document store and records it (an
// important operation). The preview shows what the report holds — its
// rows and totals, which do not change once the quarter has ended — so a
// confirm whose report would differ is refused as not the one previewed.
func (b *Backend) issue(r *api.Request) (*api.Op, error) {
	const op = "issue report"
	var in issueIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Format != FormatCSV && in.Format != FormatJSON {
		return nil, invalid("format", "format: csv or json")
	}
	if _, ok := Fields[in.Kind]; !ok {
		return nil, invalid("kind", "kind: identity, income or platform")
	}
	var rep *Report
	var profile *platform.Profile
	office := ""
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if profile, err = platform.Get(tx); err != nil {
			return err
		}
		if office, err = target(profile, in.Office); err != nil {
			return err
		}
		if in.Kind == KindPlatform && office != "" {
			return invalid("office", "the platform's basic information is reported to its own office (%s): leave office out", profile.Office)
		}
		if err := b.slotFree(tx, in.Quarter, office, in.Kind, in.Supersedes); err != nil {
			return err
		}
		_, priv, err := b.signer.Key(tx, r.Node.Keys())
		if err != nil {
			return err
		}
		if priv == nil {
			return errs.E(op, errs.Unavailable, "the gateway key is made by the leader within seconds of the cluster speaking command set %d; retry", state.GatewaySet)
		}
		req := Request{ID: NewID(), Kind: in.Kind, Quarter: in.Quarter, Office: office, Template: in.Template, Format: in.Format,
			Supersedes: in.Supersedes, Generated: r.Now()}
		if in.Kind == KindPlatform {
			req.Platform = Info(profile)
		}
		rep, err = Generate(tx, r.Node.Keys(), req, priv.Sign)
		return err
	})
	if err != nil {
		return nil, api.Classify(err)
	}
	h := rep.Head
	impact := map[string]any{"kind": h.Kind, "quarter": h.Quarter, "office": h.Office, "template": h.Template, "format": h.Format, "rows": h.Rows}
	risks := []string{fmt.Sprintf("the report is signed with the gateway key and served to every gateway client of %s; it is never withdrawn: a correction or a void keeps it on record and in the feed", receivers(profile, office))}
	if h.Supersedes != "" {
		impact["supersedes"] = h.Supersedes
		risks = append(risks, "report "+h.Supersedes+" is voided, superseded by this one")
	}
	if t := rep.Totals; t != nil {
		impact["totals"] = map[string]any{"workers": t.Workers, "destroyed": t.Destroyed, "gross": ledger.Yuan(t.GrossFen), "refunds": ledger.Yuan(t.RefundFen),
			"net": ledger.Yuan(t.NetFen), "fees": ledger.Yuan(t.FeeFen), "orders": t.Orders, "iit": ledger.Yuan(t.IITFen)}
	}
	if in.Kind == KindPlatform {
		impact["profile_version"] = profile.Version
	}
	r.Audit.Object = h.Kind + " " + h.Quarter + " " + h.Office
	document := ""
	if confirming(r) {
		if document, err = b.store(r.Ctx, rep); err != nil {
			return nil, err
		}
		r.Audit.Object = h.ID
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: rep.IssueCommand(r.Subject.ID, document, r.Now()),
		Status:  201, Response: map[string]any{"report": issued(rep, document, r.Subject.ID)},
	}, nil
}

// receivers names who is served an office's reports.
func receivers(p *platform.Profile, office string) string {
	if office == "" {
		return "the platform's own office " + p.Office
	}
	return "tax office " + office
}

// slotFree refuses early what report.issue would refuse: a report beside
// the current one of its quarter, office and kind, or a correction of
// another. The command decides again, against what is current then.
func (b *Backend) slotFree(tx *state.ReadTx, quarter, office, kind, supersedes string) error {
	if _, err := ParseQuarter(quarter); err != nil {
		return err
	}
	cur, err := tx.Get(CurrentBucket, slotKey(quarter, office, kind))
	if err != nil {
		return err
	}
	switch {
	case supersedes == "" && cur != nil:
		return reject(CodeCurrent, "report %s is the current %s report of %s for %s: a correction supersedes it, or it is voided first", cur, kind, OfficeName(office), quarter)
	case supersedes != "" && string(cur) != supersedes:
		return reject(CodeSupersedes, "report %s is not the current %s report of %s for %s", supersedes, kind, OfficeName(office), quarter)
	}
	return nil
}

// store seals a report's bytes in the document store under its file name.
// A confirm the state machine then refuses leaves them unnamed by any
// record.
func (b *Backend) store(ctx context.Context, rep *Report) (string, error) {
	const op = "issue report"
	s := b.Documents()
	if s == nil {
		return "", errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	id := rep.FileName()
	info, err := s.Put(ctx, id, bytes.NewReader(rep.Body), int64(len(rep.Body)))
	if err != nil {
		return "", errs.Wrap(op, errs.Unavailable, err, "the report could not be stored")
	}
	if hex.EncodeToString(info.SM3[:]) != rep.Head.SM3 {
		s.Delete(ctx, id)
		return "", errs.E(op, errs.Internal, "the stored report is not the signed one")
	}
	return id, nil
}

// issued is the record a confirmed issue makes, as far as the proposer
// knows it (the issue number and time are the state machine's: GET shows
// them).
func issued(rep *Report, document, by string) map[string]any {
	h := rep.Head
	return map[string]any{"id": h.ID, "kind": h.Kind, "quarter": h.Quarter, "office": h.Office, "template": h.Template, "format": h.Format,
		"rows": h.Rows, "sm3": h.SM3, "supersedes": h.Supersedes, "head": string(rep.HeadBytes), "signature": rep.Signature,
		"document": document, "by": by, "current": true}
}

type voidIn struct {
	Reason string `json:"reason"`
}

// void voids a current report without a replacement (an important
// operation).
func (b *Backend) void(r *api.Request) (*api.Op, error) {
	var in voidIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Reason = strings.TrimSpace(in.Reason); len([]rune(in.Reason)) < 5 || len(in.Reason) > 500 {
		return nil, invalid("reason", "reason: why the report is voided, 5 to 500 bytes")
	}
	var rec *Record
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		rec, err = Get(tx, r.Var("id"))
		return err
	}); err != nil {
		return nil, err
	}
	if !rec.Current {
		return nil, api.Classify(reject(CodeVoided, "report %s was voided already", rec.ID))
	}
	r.Audit.Object = rec.ID
	voided := *rec
	voided.Current, voided.VoidedBy, voided.VoidReason = false, r.Subject.ID, in.Reason
	return &api.Op{
		Impact: map[string]any{"report": rec.ID, "kind": rec.Kind, "quarter": rec.Quarter, "office": OfficeName(rec.Office), "reason": in.Reason},
		Risks: []string{"the report stays on record and in the feed, voided; its bureaus see it so",
			fmt.Sprintf("%s has no current %s report for %s until one is issued", OfficeName(rec.Office), rec.Kind, rec.Quarter)},
		Command: VoidCommand(rec.ID, in.Reason, r.Subject.ID, r.Now()),
		Status:  200, Response: map[string]any{"report": view(&voided)},
	}, nil
}

// view is a report as operators see it: its record, the office named as
// heads name it.
func view(rec *Record) map[string]any {
	out := public(rec)
	out["no"], out["head"], out["signature"], out["document"], out["by"] = rec.No, rec.Head, rec.Signature, rec.Document, rec.By
	if rec.VoidedBy != "" {
		out["voided_by"] = rec.VoidedBy
	}
	return out
}

// public is a report as a bureau sees it: no account of the platform's
// staff, no place in its store.
func public(rec *Record) map[string]any {
	out := map[string]any{"id": rec.ID, "kind": rec.Kind, "quarter": rec.Quarter, "office": OfficeName(rec.Office), "template": rec.Template,
		"format": rec.Format, "rows": rec.Rows, "sm3": rec.SM3, "issued": rec.Issued, "current": rec.Current}
	if rec.Supersedes != "" {
		out["supersedes"] = rec.Supersedes
	}
	if rec.Voided != nil {
		out["voided"] = *rec.Voided
		out["void_reason"] = rec.VoidReason
	}
	if rec.SupersededBy != "" {
		out["superseded_by"] = rec.SupersededBy
	}
	return out
}

// listQuery reads a listing's parameters: quarter, required, and office,
// optional; nothing else.
func listQuery(q url.Values) (quarter, office string, err error) {
	for k, vs := range q {
		switch {
		case k != "quarter" && k != "office":
			return "", "", invalid(k, "unknown parameter %q: a listing takes quarter and office", k)
		case len(vs) != 1:
			return "", "", invalid(k, "%s is given once", k)
		}
	}
	if _, err := ParseQuarter(q.Get("quarter")); err != nil {
		return "", "", api.Classify(err)
	}
	return q.Get("quarter"), q.Get("office"), nil
}

// list answers the reports of a quarter and an office, the platform's own
// when none is named, every kind, current and voided, in issue order.
func (b *Backend) list(r *api.Request) (int, any, error) {
	quarter, office, err := listQuery(r.HTTP.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	r.Audit.Object = strings.TrimSpace(quarter + " " + office)
	if err := r.View(func(tx *state.ReadTx) error {
		p, err := platform.Get(tx)
		if err != nil {
			return err
		}
		if office == "" || office == PlatformOffice || (p != nil && office == p.Office) {
			office = ""
		} else if err := ident.CheckTaxOffice(office); err != nil {
			e := *errs.Of(err)
			e.Field = "office"
			return &e
		}
		recs, err := List(tx, quarter, office)
		for _, rec := range recs {
			out = append(out, view(rec))
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"quarter": quarter, "office": OfficeName(office), "reports": out}, nil
}

// record reads the report the path names. A read's audit record is
// written as it first reads: it names the report first.
func (b *Backend) record(r *api.Request) (*Record, error) {
	r.Audit.Object = r.Var("id")
	var rec *Record
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		rec, err = Get(tx, r.Var("id"))
		return err
	})
	return rec, err
}

func (b *Backend) get(r *api.Request) (int, any, error) {
	rec, err := b.record(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"report": view(rec)}, nil
}

// body answers a report's bytes as signed: an identity report holds the
// names and ID numbers of every worker in it, so only the staff who issue
// reports download them, each download audited.
func (b *Backend) body(r *api.Request) (int, any, error) {
	rec, err := b.record(r)
	if err != nil {
		return 0, nil, err
	}
	return b.raw(r, rec)
}

// contentTypes are the reports' formats as HTTP names them.
var contentTypes = map[string]string{FormatCSV: "text/csv; charset=utf-8", FormatJSON: "application/json"}

// raw reads a report's bytes from the store, whole, checked against the
// SM3 its signed head names before a byte is sent.
func (b *Backend) raw(r *api.Request, rec *Record) (int, any, error) {
	const op = "report body"
	if rec.Document == "" {
		return 0, nil, errs.E(op, errs.NotExist, "report %s was recorded without its bytes", rec.ID)
	}
	s := b.Documents()
	if s == nil {
		return 0, nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	var want [sm.HashSize]byte
	if raw, err := hex.DecodeString(rec.SM3); err != nil || len(raw) != sm.HashSize {
		return 0, nil, errs.E(op, errs.Internal, "report %s has a bad digest on record", rec.ID)
	} else {
		copy(want[:], raw)
	}
	rc, err := s.Get(r.Ctx, rec.Document, want)
	if err != nil {
		return 0, nil, errs.Wrap(op, errs.Unavailable, err, "report %s could not be read", rec.ID)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err == nil && sm.Sum(body) != want {
		err = fmt.Errorf("SM3 differs from the signed head's")
	}
	if err != nil {
		return 0, nil, errs.Wrap(op, errs.Internal, err, "report %s failed its integrity check", rec.ID)
	}
	return 200, &api.Raw{ContentType: contentTypes[rec.Format], Name: rec.ID + "." + rec.Format, Body: body}, nil
}

// bureauScope is the office whose reports a bureau's request reads, as
// the feed decides it (bureaus.Scope): "" for the platform's own reports,
// which only a client holding the platform's office reads.
func bureauScope(tx *state.ReadTx, c *bureaus.Client, office string) (string, error) {
	po, err := platform.Office(tx)
	if err != nil {
		return "", err
	}
	if office == PlatformOffice {
		office = po
		if po == "" {
			return "", errs.Coded("gateway reports", errs.Permission, "out_of_scope", "the platform's own office is named by its profile, and none is set yet")
		}
	}
	return bureaus.Scope(c, po, office)
}

// sees reports whether a bureau's client may read rec: one of its offices,
// or the platform's own report for a client holding the platform's office.
func sees(tx *state.ReadTx, c *bureaus.Client, rec *Record) (bool, error) {
	if rec.Office != "" {
		return c.Sees(rec.Office), nil
	}
	po, err := platform.Office(tx)
	return po != "" && c.Sees(po), err
}

// bureauList answers a bureau the reports of a quarter for an office of
// its scope: office names one of its offices ("platform", or none, for the
// platform's own reports to a client holding the platform's office); an
// office outside its scope is out_of_scope, as for the feed.
func (b *Backend) bureauList(r *api.Request) (int, any, error) {
	caller, err := bureaus.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	quarter, office, err := listQuery(r.HTTP.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	r.Audit.Object = strings.TrimSpace(quarter + " " + office)
	if err := r.View(func(tx *state.ReadTx) error {
		scope, err := bureauScope(tx, caller.Client, office)
		if err != nil {
			return err
		}
		office = scope
		recs, err := List(tx, quarter, scope)
		for _, rec := range recs {
			out = append(out, public(rec))
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"quarter": quarter, "office": OfficeName(office), "reports": out}, nil
}

// bureauRecord reads the report a bureau's request names. One it may not
// read answers as one that does not exist: a report ID names no office,
// and a bureau learns nothing of another office's reports from it.
func (b *Backend) bureauRecord(r *api.Request) (*Record, error) {
	caller, err := bureaus.Caller(r)
	if err != nil {
		return nil, err
	}
	if len(r.HTTP.URL.Query()) > 0 {
		return nil, invalid("", "a report is named by its path alone: no parameters")
	}
	id := r.Var("id")
	r.Audit.Object = id
	var rec *Record
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if rec, err = Get(tx, id); state.NotFound.Is(err) {
			rec, err = nil, nil
		}
		if err != nil || rec == nil {
			return err
		}
		if ok, err := sees(tx, caller.Client, rec); err != nil || !ok {
			rec = nil
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errs.E("gateway report", errs.NotExist, "no report %s within your scope", id)
	}
	return rec, nil
}

// bureauGet answers a report's record, its signed head and the signature,
// with which the bureau checks the bytes it downloads.
func (b *Backend) bureauGet(r *api.Request) (int, any, error) {
	rec, err := b.bureauRecord(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"report": public(rec), "head": rec.Head, "signature": base64.StdEncoding.EncodeToString(rec.Signature)}, nil
}

// bureauBody answers a report's bytes exactly as signed.
func (b *Backend) bureauBody(r *api.Request) (int, any, error) {
	rec, err := b.bureauRecord(r)
	if err != nil {
		return 0, nil, err
	}
	return b.raw(r, rec)
}

// resource finds the report a business route names.
func resource(r *api.Request) (api.Resource, error) {
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		rec, err := Get(tx, r.Var("id"))
		if state.NotFound.Is(err) {
			return false, nil
		}
		return rec != nil, err
	})
	return api.Resource{Resource: policy.Resource{Label: 1}, Noun: "report", Absent: !found}, err
}
