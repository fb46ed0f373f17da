package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
	"cxt/crypto/secmem"
)

func TestAMasterKeyFileReadableByOthersIsRefusedWithTheChmodToRun(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	path := filepath.Join(dir, datadir.MasterKeyFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
		_, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile)); string(after) != string(before) {
			t.Fatalf("mode %04o: the refused start changed node.json", mode)
		}
	}
	// 0400 is narrower than 0600 and fine.
	os.Chmod(path, 0o400)
	n := open(t, dir)
	waitLeader(t, n)
}

func TestTheServingProcessWritesNoCoreDump(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	open(t, dir)
	if secmem.Dumpable() {
		t.Fatal("the process serving a node may still write a core dump")
	}
}

func TestPlaintextNotificationSecretsInNodeJSONAreWrappedAtTheNextStart(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	writeNotifications(t, dir, map[string]any{
		"smtp_addr": "127.0.0.1:25", "smtp_user": "cxt", "smtp_password": "smtp-Secret-42",
		"sms_webhook": "https://sms.example/send?key=sms-Secret-43",
	})
	n := open(t, dir)
	waitLeader(t, n)
	raw, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
	for _, secret := range []string{"smtp-Secret-42", "sms-Secret-43", "smtp_password\"", "sms_webhook\""} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("node.json still holds %q in plaintext:\n%s", secret, raw)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, datadir.NodeFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("node.json rewritten with mode %04o", fi.Mode().Perm())
	}
	cfg, _ := datadir.Load(dir)
	if cfg.Notifications.SMTPAddr != "127.0.0.1:25" || cfg.Notifications.SMTPUser != "cxt" {
		t.Errorf("the plain settings were lost: %+v", cfg.Notifications)
	}
	master, err := cfg.MasterFromKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := cfg.NotifyConfig(master)
	if err != nil || nc.SMTPPassword != "smtp-Secret-42" || nc.SMSWebhook != "https://sms.example/send?key=sms-Secret-43" {
		t.Fatalf("the wrapped secrets do not open: %+v %v", nc, err)
	}
	n.Close()
	// And the node still starts from the wrapped form.
	n2 := open(t, dir)
	waitLeader(t, n2)
}
