package demo

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"cxt/appliance/identity"
)

// Destroyed is a worker whose archive the demo destroyed: who they were —
// their internal ID and resident ID number, to look for anywhere — when
// they cancelled, the deletion their cancellation filed, and the
// destruction certificate, written out under Dir.
type Destroyed struct {
	Worker   string `json:"worker"`
	Username string `json:"username"`
	IDNumber string `json:"id_number"`
	// Registered is what they registered, as sent: name, id_number, phone
	// and bank_card, to look for.
	Registered  map[string]string `json:"registered"`
	Cancelled   string            `json:"cancelled"`
	Request     string            `json:"privacy_request"`
	Certificate string            `json:"certificate"` // DC-…, as the deletion request ends with it
	Dir         string            `json:"dir"`         // certificate.pdf, certificate.json, certificate.sig, signer.cert.pem, README.txt
}

// leaver is the world's person who signs up in its first month, passes
// the real-name check, is never linked or paid, and cancels the account
// (privacy.cancel, a step-up with the TOTP factor they enrol). The
// cancellation files a deletion request, which the operator applies: no
// retention keeps a person never paid, so it is erasing until the
// archive's destruction at the end of the world (destroy).
func (f *filler) leaver(ctx context.Context) error {
	p, err := demoPerson(f.opts.Workers)
	if err != nil {
		return err
	}
	d := Destroyed{Username: "worker-leaver", IDNumber: p["id_number"], Registered: p}
	f.w.say("a person signs up, passes the real-name check, never works, and cancels the account (docs/privacy.md)")
	var reg struct {
		Worker struct {
			ID string `json:"id"`
		} `json:"worker"`
		OneTime string `json:"one_time_password"`
	}
	body := map[string]string{"username": d.Username}
	for k, v := range p {
		body[k] = v
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers", "", body, &reg); err != nil {
		return fmt.Errorf("register %s: %w", d.Username, err)
	}
	d.Worker = reg.Worker.ID
	s, err := f.smsLogin(ctx, d.Username, reg.OneTime, p["phone"])
	if err != nil {
		return err
	}
	if err := f.changePassword(ctx, s.Token, reg.OneTime, identity.GeneratePassword()); err != nil {
		return fmt.Errorf("%s's password: %w", d.Username, err)
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers/"+d.Worker+"/consents", s.Token, map[string]string{
		"purpose": "real_name", "notice": "诚薪通将把您的姓名、身份证号和手机号提交实名认证服务商核验，仅用于实名认证。", "notice_version": "2026-11", "channel": "app"}, nil); err != nil {
		return fmt.Errorf("%s's consent: %w", d.Username, err)
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers/"+d.Worker+"/real-name", s.Token, nil, nil); err != nil {
		return fmt.Errorf("%s's real-name check: %w", d.Username, err)
	}
	// Cancelling is an important operation: a fresh step-up.
	if err := f.c.enrolTOTP(ctx, s); err != nil {
		return fmt.Errorf("%s's TOTP: %w", d.Username, err)
	}
	if err := f.c.stepUp(ctx, s); err != nil {
		return fmt.Errorf("%s's step-up: %w", d.Username, err)
	}
	var cancelled struct {
		Cancelled bool `json:"cancelled"`
	}
	if err := f.c.important(ctx, "POST", "/api/v1/workers/"+d.Worker+"/cancel", s.Token, "demo-cancel-"+d.Worker, nil, &cancelled); err != nil || !cancelled.Cancelled {
		return fmt.Errorf("%s cancelling: %v %w", d.Username, cancelled, err)
	}
	d.Cancelled = f.c.Clock.Now().Format(time.RFC3339)
	// The operator finds the deletion the cancellation filed and applies it.
	reqs, err := f.privacyRequests(ctx, d.Worker)
	if err != nil {
		return err
	}
	for _, q := range reqs {
		if q.Kind == "deletion" && q.Cancellation && q.Status == "open" {
			d.Request = q.ID
		}
	}
	if d.Request == "" {
		return fmt.Errorf("demo: %s's cancellation filed no deletion request: %+v", d.Username, reqs)
	}
	var decided struct {
		Status string `json:"status"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/privacy-requests/"+d.Request+"/decide", f.operator.Token, map[string]string{"outcome": "apply"}, &decided); err != nil {
		return fmt.Errorf("deciding %s's deletion: %w", d.Username, err)
	}
	if decided.Status != "erasing" {
		return fmt.Errorf("demo: %s's deletion is %s, not erasing: something keeps a person never paid", d.Username, decided.Status)
	}
	f.w.Destroyed = append(f.w.Destroyed, d)
	return nil
}

// destroy destroys the leaver's archive, due since the cancellation: the
// operator proposes, the reviewer approves (both important operations),
// the worker's key is shredded on every node, and the certificate is
// written to DIR/demo/destruction/<worker>/. The demo checks that the
// worker's record no longer opens and that the deletion request is done
// with the certificate's number.
func (f *filler) destroy(ctx context.Context) error {
	for i := range f.w.Destroyed {
		d := &f.w.Destroyed[i]
		f.w.say("the archive of %s (cancelled %s) is due: the operator proposes its destruction, the reviewer approves, its key is shredded (docs/archives.md)", d.Worker, d.Cancelled)
		if err := f.c.stepUp(ctx, f.operator); err != nil {
			return err
		}
		var proposed struct {
			ID string `json:"id"`
		}
		if err := f.c.important(ctx, "POST", "/api/v1/archives/"+d.Worker+"/destruction", f.operator.Token, "demo-destroy-"+d.Worker,
			map[string]string{"reason": "本人注销账户并要求删除个人信息；从未取得报酬，无法定保存期限（个人信息保护法第四十七条）"}, &proposed); err != nil {
			return fmt.Errorf("proposing the destruction of %s: %w", d.Worker, err)
		}
		if err := f.c.stepUp(ctx, f.reviewer); err != nil {
			return err
		}
		if err := f.c.important(ctx, "POST", "/api/v1/archive-destructions/"+proposed.ID+"/decision", f.reviewer.Token, "demo-approve-"+proposed.ID,
			map[string]string{"decision": "approve"}, nil); err != nil {
			return fmt.Errorf("approving the destruction of %s: %w", d.Worker, err)
		}
		if code, err := f.c.call(ctx, "GET", "/api/v1/workers/"+d.Worker, f.operator.Token, nil, nil); err == nil || code != 409 {
			return fmt.Errorf("demo: the destroyed worker %s still reads: %d %v", d.Worker, code, err)
		}
		reqs, err := f.privacyRequests(ctx, d.Worker)
		if err != nil {
			return err
		}
		for _, q := range reqs {
			if q.ID == d.Request {
				d.Certificate = q.Certificate
			}
		}
		if d.Certificate == "" {
			return fmt.Errorf("demo: the destruction of %s did not complete deletion request %s: %+v", d.Worker, d.Request, reqs)
		}
		z, err := f.c.raw(ctx, "GET", "/api/v1/archives/"+d.Worker+"/certificate", f.operator.Token)
		if err != nil {
			return fmt.Errorf("the certificate of %s: %w", d.Worker, err)
		}
		d.Dir = filepath.Join(f.dir, "destruction", d.Worker)
		if err := unzip(z, d.Dir); err != nil {
			return err
		}
	}
	return nil
}

// request is a privacy request as the operator lists it.
type request struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Status       string `json:"status"`
	Cancellation bool   `json:"cancellation"`
	Certificate  string `json:"certificate"`
}

// privacyRequests lists a worker's privacy requests as the operator sees
// them.
func (f *filler) privacyRequests(ctx context.Context, worker string) ([]request, error) {
	var out struct {
		Requests []request `json:"requests"`
	}
	_, err := f.c.call(ctx, "GET", "/api/v1/workers/"+worker+"/privacy-requests", f.operator.Token, nil, &out)
	return out.Requests, err
}

// unzip writes a zip's files, flat, into dir.
func unzip(b []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(zf.Name)), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
