package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cxt/appliance/identity"
)

// DemoWorkers is how many workers the demo registers unless told
// otherwise (Options.Workers).
const DemoWorkers = 50

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given    = []string{"晓明", "丽娟", "建国", "海燕", "志强", "秀英", "伟", "芳", "俊杰", "雪梅"}
	regions  = []string{"110105", "310104", "440305", "350102", "140105", "330106", "510107", "420106"}
)

// demoPerson is the i-th demo worker's identity: valid by GB 11643 and Luhn,
// passing the sandbox's real-name rules (no 假, no sequence 999, no phone
// ending 0000).
func demoPerson(i int) (map[string]string, error) {
	born := time.Date(1980+i%25, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
	id, err := ResidentID(regions[i%len(regions)], born, 100+i)
	if err != nil {
		return nil, err
	}
	// The first workers share one bank card: planted for the post-hoc
	// inspection to find (docs/risk.md).
	card := i
	if i < sharedCardWorkers {
		card = 0
	}
	return map[string]string{
		"name":      string(surnames[i%len(surnames)]) + given[(i/len(surnames)+i)%len(given)],
		"id_number": id,
		"phone":     fmt.Sprintf("137%08d", 10001+i),
		"bank_card": BankCard(100 + card),
	}, nil
}

// workers has each merchant invite its share of the demo's workers by CSV;
// each worker registers (taking over the invitation), signs in with an SMS
// code, consents to and passes the real-name check, accepts the merchant,
// and signs the tripartite agreement with the merchant and the platform,
// everyone with SMS codes. The evidence packages are downloaded.
func (f *filler) workers(ctx context.Context) error {
	n := f.opts.Workers
	f.w.say("the merchants invite %d workers by CSV", n)
	people := make([]map[string]string, n)
	for i := range people {
		p, err := demoPerson(i)
		if err != nil {
			return err
		}
		people[i] = p
	}
	for mi, m := range f.w.Merchants {
		var csv strings.Builder
		csv.WriteString("name,id_number,phone,bank_card\n")
		for i := mi; i < n; i += len(f.w.Merchants) {
			p := people[i]
			fmt.Fprintf(&csv, "%s,%s,%s,%s\n", p["name"], p["id_number"], p["phone"], p["bank_card"])
		}
		var report struct {
			Report []struct {
				Status string `json:"status"`
				Code   string `json:"code"`
			} `json:"report"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/workers", f.session(m.Admin).Token, csvBody(csv.String()), &report); err != nil {
			return fmt.Errorf("invitation by %s: %w", m.ID, err)
		}
		for _, r := range report.Report {
			if r.Status != "created" && r.Status != "linked" {
				return fmt.Errorf("invitation by %s: a row was %s (%s)", m.ID, r.Status, r.Code)
			}
		}
	}
	f.w.say("each worker registers, signs in with an SMS code, passes the real-name check and signs the tripartite agreement (SMS codes for every party)")
	out := make([]Worker, n)
	sem := make(chan struct{}, 8)
	err := parallel(n, func(i int) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		w, err := f.worker(ctx, i, people[i], f.w.Merchants[i%len(f.w.Merchants)])
		out[i] = w
		return err
	})
	f.w.Workers = out
	return err
}

func (f *filler) worker(ctx context.Context, i int, p map[string]string, m Merchant) (Worker, error) {
	w := Worker{Username: fmt.Sprintf("worker-%02d", i+1), Merchant: m.ID, Registered: p}
	var reg struct {
		Worker struct {
			ID string `json:"id"`
		} `json:"worker"`
		OneTime string `json:"one_time_password"`
	}
	body := map[string]string{"username": w.Username}
	for k, v := range p {
		body[k] = v
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers", "", body, &reg); err != nil {
		return w, fmt.Errorf("register %s: %w", w.Username, err)
	}
	w.ID = reg.Worker.ID
	s, err := f.smsLogin(ctx, w.Username, reg.OneTime, p["phone"])
	if err != nil {
		return w, err
	}
	s.Password = identity.GeneratePassword()
	if err := f.changePassword(ctx, s.Token, reg.OneTime, s.Password); err != nil {
		return w, fmt.Errorf("%s's password: %w", w.Username, err)
	}
	f.w.account(Account{Username: w.Username, Role: "worker", Password: s.Password, Worker: w.ID, Phone: p["phone"]})
	f.w.mu.Lock()
	f.sessions[w.Username] = s
	f.w.mu.Unlock()
	notice := "诚薪通将把您的姓名、身份证号和手机号提交实名认证服务商核验，仅用于实名认证。"
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers/"+w.ID+"/consents", s.Token, map[string]string{
		"purpose": "real_name", "notice": notice, "notice_version": "2026-11", "channel": "app"}, nil); err != nil {
		return w, fmt.Errorf("%s's consent: %w", w.Username, err)
	}
	var rn struct {
		Result struct {
			Passed bool   `json:"passed"`
			Reason string `json:"reason"`
		} `json:"real_name"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers/"+w.ID+"/real-name", s.Token, nil, &rn); err != nil {
		return w, fmt.Errorf("%s's real-name check: %w", w.Username, err)
	}
	w.RealName = "passed"
	if _, err := f.c.call(ctx, "POST", "/api/v1/workers/"+w.ID+"/merchants/"+m.ID+"/accept", s.Token, nil, nil); err != nil {
		return w, fmt.Errorf("%s accepting %s: %w", w.Username, m.ID, err)
	}
	admin := f.session(m.Admin)
	var a struct {
		ID  string `json:"id"`
		SM3 string `json:"document_sm3"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/workers/"+w.ID+"/agreements", admin.Token, map[string]string{
		"service_description": "同城配送及家政服务（按单结算）", "start_date": "2026-12-01", "end_date": "2027-11-30"}, &a); err != nil {
		return w, fmt.Errorf("tripartite agreement of %s: %w", w.Username, err)
	}
	for _, signer := range []struct {
		s     *Session
		phone string
	}{{s, p["phone"]}, {admin, f.phone(m.Admin)}, {f.operator, f.phone("ops")}} {
		if err := f.signWithSMS(ctx, a.ID, a.SM3, signer.s, signer.phone); err != nil {
			return w, err
		}
	}
	w.Agreement = a.ID
	zip, err := f.c.raw(ctx, "GET", "/api/v1/agreements/"+a.ID+"/evidence", s.Token)
	if err != nil {
		return w, fmt.Errorf("evidence of %s: %w", a.ID, err)
	}
	path := filepath.Join(f.dir, "evidence", a.ID+".zip")
	if err := os.WriteFile(path, zip, 0o600); err != nil {
		return w, err
	}
	f.w.mu.Lock()
	f.w.Artifacts = append(f.w.Artifacts, Artifact{What: "evidence package of " + w.Username + "'s tripartite agreement", Path: path})
	f.w.mu.Unlock()
	return w, nil
}

// smsLogin signs a worker in with their password and an SMS code.
func (f *filler) smsLogin(ctx context.Context, username, password, phone string) (*Session, error) {
	since := time.Now().Add(-time.Second)
	var req struct {
		ID string `json:"sms_login_id"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/sessions/sms", "", map[string]string{"username": username, "password": password}, &req); err != nil {
		return nil, fmt.Errorf("%s's SMS code: %w", username, err)
	}
	code, err := f.sms.Code(ctx, phone, "", since)
	if err != nil {
		return nil, err
	}
	var login struct {
		Token string `json:"token"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/sessions", "", map[string]string{
		"username": username, "password": password, "sms_login_id": req.ID, "sms_code": code}, &login); err != nil {
		return nil, fmt.Errorf("%s's login: %w", username, err)
	}
	return &Session{Username: username, Token: login.Token}, nil
}

// signWithSMS has a party sign an agreement with a signing code sent by SMS.
func (f *filler) signWithSMS(ctx context.Context, agreement, sm3 string, s *Session, phone string) error {
	since := time.Now().Add(-time.Second)
	var issued struct {
		ID string `json:"code_id"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/agreements/"+agreement+"/code", s.Token, nil, &issued); err != nil {
		return fmt.Errorf("%s's signing code for %s: %w", s.Username, agreement, err)
	}
	code, err := f.sms.Code(ctx, phone, agreement, since)
	if err != nil {
		return err
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/agreements/"+agreement+"/sign", s.Token, map[string]string{
		"document_sm3": sm3, "code_id": issued.ID, "code": code}, nil); err != nil {
		return fmt.Errorf("%s signing %s: %w", s.Username, agreement, err)
	}
	return nil
}

// phone is where a demo account's SMS codes go.
func (f *filler) phone(username string) string {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	for _, a := range f.w.Accounts {
		if a.Username == username {
			return a.Phone
		}
	}
	return ""
}

// changePassword changes a password once, though a busy node may answer
// 503 after it applied the change: a try after a 503 that finds the old
// password wrong finds the change made. (The client's general retry of a
// 503 would send the old password again and report that as the error.)
func (f *filler) changePassword(ctx context.Context, token, old, new string) error {
	return f.c.changePassword(ctx, token, old, new)
}
