package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"cxt/appliance/ident"
	"cxt/crypto/sm"
)

// The demo's side of the tax bureaus' gateway (docs/gateway.md): the
// platform's profile, whose tax office reads the whole feed, and two
// bureaus' gateway clients whose SM2 keys the demo keeps for the
// evaluator — the platform's office's, and the office of the merchant that
// pays the demo's batch, which reads that office's chain only.

// Files the bureaus' keys are written to, in the demo folder.
const (
	BureauKeyFile       = "bureau-sm2.pem"
	BureauOfficeKeyFile = "bureau-office-sm2.pem"
)

// demoPlatformArea is where the demo's platform company is registered
// (Beijing, Chaoyang district): its credit code's area and its tax office,
// which no demo merchant shares, so a merchant's office scopes apart.
const demoPlatformArea = "110105"

// Platform is the platform's profile as the demo set it for the tax
// authorities.
type Platform struct {
	Office       string `json:"office"` // its 主管税务机关: reads the whole feed
	LegalName    string `json:"legal_name"`
	USCC         string `json:"uscc"`
	Domain       string `json:"domain"`
	BusinessType string `json:"business_type"`
}

// Bureau is a tax bureau's gateway client the demo registered.
type Bureau struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Offices []string `json:"offices"`
	Scope   string   `json:"scope"` // "platform" (the whole feed) or the office whose chain it reads
	KeyFile string   `json:"key"`   // its SM2 private key (PEM): cxt gateway pull --client-key
}

// platformUSCC is the demo platform company's credit code.
func platformUSCC() (string, error) { return USCC(demoPlatformArea) }

// gateway has the system administrator set the platform's profile and the
// security administrator register the two bureaus' clients, each an
// important operation with a fresh SM2 key written to the demo folder. It
// runs right after the staff are made, within the security
// administrator's step-up of the start (five minutes): another would wait
// for the next TOTP step.
func (f *filler) gateway(ctx context.Context) error {
	sys, sec := f.admins["system_admin"], f.admins["security_admin"]
	if sys == nil || sec == nil {
		return fmt.Errorf("demo: no system or security administrator")
	}
	code, err := platformUSCC()
	if err != nil {
		return err
	}
	u, err := ident.ParseUSCC(code)
	if err != nil {
		return err
	}
	sub, err := USCC("440305") // its Shenzhen subsidiary, an operating entity too
	if err != nil {
		return err
	}
	p := &Platform{Office: ident.TaxOfficeOf(u), LegalName: demoPlatform, USCC: code, Domain: "demo.chengxintong.example.cn", BusinessType: "灵活用工服务平台（互联网平台企业）"}
	f.w.say("the system administrator sets the platform's profile for the tax authorities: %s, tax office %s, which reads the whole gateway feed", p.LegalName, p.Office)
	if err := f.c.stepUp(ctx, sys); err != nil {
		return err
	}
	if err := f.c.important(ctx, "PUT", "/api/v1/gateway/platform", sys.Token, "demo-platform-profile", map[string]any{
		"office": p.Office, "legal_name": p.LegalName, "uscc": p.USCC, "domain": p.Domain, "business_type": p.BusinessType,
		"operating_entities": []map[string]string{{"name": p.LegalName, "uscc": p.USCC}, {"name": "诚薪通演示平台（深圳）有限公司", "uscc": sub}},
	}, nil); err != nil {
		return fmt.Errorf("platform profile: %w", err)
	}
	f.w.Platform = p

	payer := demoMerchants[0]
	mu, err := USCC(payer.area)
	if err != nil {
		return err
	}
	pu, _ := ident.ParseUSCC(mu)
	office := ident.TaxOfficeOf(pu) // where the paying merchant is presumed to file
	f.w.say("the security administrator registers two tax bureaus' gateway clients with SM2 keys: the platform's office %s (the whole feed) and %s's office %s (that office's chain only)", p.Office, payer.name, office)
	bureaus := []struct {
		name, office, file, scope string
	}{
		{"国家税务总局北京市朝阳区税务局 数据接口", p.Office, BureauKeyFile, "platform"},
		{payer.bureau + " 数据接口", office, BureauOfficeKeyFile, office},
	}
	for i, b := range bureaus {
		key, err := sm.GenerateKey()
		if err != nil {
			return err
		}
		priv, err := key.MarshalPEM()
		if err != nil {
			return err
		}
		pub, err := key.Public().MarshalPEM()
		if err != nil {
			return err
		}
		path := filepath.Join(f.dir, b.file)
		if err := os.WriteFile(path, priv, 0o600); err != nil {
			return err
		}
		var out struct {
			Client struct {
				ID      string   `json:"id"`
				Offices []string `json:"offices"`
			} `json:"client"`
		}
		if err := f.c.important(ctx, "POST", "/api/v1/gateway/clients", sec.Token, fmt.Sprintf("demo-bureau-%d", i+1),
			map[string]any{"name": b.name, "offices": []string{b.office}, "public_key": string(pub)}, &out); err != nil {
			return fmt.Errorf("gateway client %s: %w", b.name, err)
		}
		f.w.Bureaus = append(f.w.Bureaus, Bureau{ID: out.Client.ID, Name: b.name, Offices: out.Client.Offices, Scope: b.scope, KeyFile: path})
	}
	f.w.BureauKey, f.w.BureauOfficeKey = f.w.Bureaus[0].KeyFile, f.w.Bureaus[1].KeyFile
	return nil
}

// PullCommands are the commands that pull the feed as the demo's bureau
// of the platform's office into out, and verify it offline.
func (w *World) PullCommands(key, out string) []string {
	if w.GatewayURL == "" {
		return nil
	}
	return []string{
		fmt.Sprintf("cxt gateway pull --client-key %s --url %s --ca %s --after 0 --out %s", key, w.GatewayURL, w.GatewayCA, out),
		"cxt gateway verify " + out,
	}
}
