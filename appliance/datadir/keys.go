package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"cxt/appliance/notify"
	"cxt/crypto/keyring"
)

// ReadKeyFile reads a master key file, refusing one that anybody but its
// owner may read or that is not a key.
func ReadKeyFile(path string) (*keyring.MasterKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("datadir: read master key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("datadir: %s has mode %04o; a master key file must be readable by its owner only: run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("datadir: read master key: %w", err)
	}
	defer clear(b)
	m, err := keyring.MasterKeyFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("datadir: %s: %w", path, err)
	}
	return m, nil
}

// Notifications are node.json's SMTP and SMS settings. The SMTP password and
// the SMS webhook (whose URL usually carries the provider's key) are kept
// wrapped by the master key, like the MinIO secret; a plaintext value an
// operator writes is wrapped, and removed from the file, at the next start.
type Notifications struct {
	SMTPAddr           string `json:"smtp_addr,omitempty"` // host:port
	SMTPFrom           string `json:"smtp_from,omitempty"`
	SMTPUser           string `json:"smtp_user,omitempty"`
	SMTPPassword       string `json:"smtp_password,omitempty"` // plaintext until the next start
	SMTPPasswordSealed []byte `json:"smtp_password_sealed,omitempty"`
	SMSWebhook         string `json:"sms_webhook,omitempty"` // plaintext until the next start
	SMSWebhookSealed   []byte `json:"sms_webhook_sealed,omitempty"`
}

// RealName is node.json's real-name verification service (appliance/workers/
// realname.HTTP): its HTTPS URL, the app ID and shared secret it signs with,
// and the per-attempt timeout and retries. The secret is wrapped by the
// master key at the next start, like the notification secrets. No URL: the
// embedded sandbox verifies.
type RealName struct {
	URL            string `json:"url,omitempty"`
	App            string `json:"app,omitempty"`
	Provider       string `json:"provider,omitempty"`
	Secret         string `json:"secret,omitempty"` // plaintext until the next start
	SecretSealed   []byte `json:"secret_sealed,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
	Retries        int    `json:"retries,omitempty"`
}

// Names the secrets are wrapped under, so that one cannot stand in for another.
const (
	wrapMinIO      = "minio-secret-key"
	wrapNodeKey    = "node-key"
	wrapSMTP       = "smtp-password"
	wrapSMSWebhook = "sms-webhook"
	wrapRealName   = "real-name-secret"
)

// RealNameConfig returns the real-name service's settings with its secret
// opened, or the zero RealName when none is configured. A URL that is not
// HTTPS (plain HTTP only to this machine) is refused.
func (n *Node) RealNameConfig(master *keyring.MasterKey) (RealName, error) {
	c := n.RealName
	if c.URL == "" {
		return RealName{}, nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1")) {
		return RealName{}, fmt.Errorf("datadir: %s real_name.url %q: an https:// URL (http:// only to this machine)", n.Path(NodeFile), c.URL)
	}
	if c.Secret == "" && len(c.SecretSealed) > 0 {
		b, err := master.Unwrap(wrapRealName, c.SecretSealed)
		if err != nil {
			return RealName{}, fmt.Errorf("datadir: %s real_name: %w", n.Path(NodeFile), err)
		}
		c.Secret = string(b)
		clear(b)
	}
	if c.Secret == "" || c.App == "" {
		return RealName{}, fmt.Errorf("datadir: %s real_name: a service needs its app and secret", n.Path(NodeFile))
	}
	c.SecretSealed = nil
	return c, nil
}

// seal wraps the plaintext secret with m and removes it.
func (c *RealName) seal(m *keyring.MasterKey) error {
	if c.Secret == "" {
		return nil
	}
	w, err := m.Wrap(wrapRealName, []byte(c.Secret))
	if err != nil {
		return err
	}
	c.SecretSealed, c.Secret = w, ""
	return nil
}

// NotifyConfig returns the notification settings with their secrets opened.
func (n *Node) NotifyConfig(master *keyring.MasterKey) (notify.Config, error) {
	c := n.Notifications
	out := notify.Config{SMTPAddr: c.SMTPAddr, SMTPFrom: c.SMTPFrom, SMTPUser: c.SMTPUser, SMTPPassword: c.SMTPPassword, SMSWebhook: c.SMSWebhook}
	for _, s := range []struct {
		plain  string
		sealed []byte
		name   string
		dst    *string
	}{{c.SMTPPassword, c.SMTPPasswordSealed, wrapSMTP, &out.SMTPPassword}, {c.SMSWebhook, c.SMSWebhookSealed, wrapSMSWebhook, &out.SMSWebhook}} {
		if s.plain != "" || len(s.sealed) == 0 {
			continue // a plaintext value is the newer one: the operator just wrote it
		}
		b, err := master.Unwrap(s.name, s.sealed)
		if err != nil {
			return notify.Config{}, fmt.Errorf("datadir: %s notifications: %w", n.Path(NodeFile), err)
		}
		*s.dst = string(b)
		clear(b)
	}
	return out, nil
}

// SealSecrets wraps the plaintext secrets of node.json (the notification
// providers') with master and rewrites the file without them. It reports
// whether there was anything to wrap.
func (n *Node) SealSecrets(master *keyring.MasterKey) (bool, error) {
	c := &n.Notifications
	if c.SMTPPassword == "" && c.SMSWebhook == "" && n.RealName.Secret == "" {
		return false, nil
	}
	next := *n
	if err := next.Notifications.seal(master); err != nil {
		return false, err
	}
	if err := next.RealName.seal(master); err != nil {
		return false, err
	}
	if err := next.save(NodeFile); err != nil {
		return false, err
	}
	*n = next
	return true, nil
}

// seal wraps the plaintext secrets with m and removes them.
func (c *Notifications) seal(m *keyring.MasterKey) error {
	for _, s := range []struct {
		plain  *string
		sealed *[]byte
		name   string
	}{{&c.SMTPPassword, &c.SMTPPasswordSealed, wrapSMTP}, {&c.SMSWebhook, &c.SMSWebhookSealed, wrapSMSWebhook}} {
		if *s.plain == "" {
			continue
		}
		w, err := m.Wrap(s.name, []byte(*s.plain))
		if err != nil {
			return err
		}
		*s.sealed, *s.plain = w, ""
	}
	return nil
}

// save writes node.json (or a staged copy) whole: a temporary file, fsynced,
// renamed over the old one.
func (n *Node) save(name string) error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(n.Path(name), append(b, '\n'), 0o600)
}

func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// A rekey switches the folder's files to a new master key around one commit
// point, the rename of node.json.new over node.json:
//
//	StageRekey    writes node.json.new, node-key.sealed.new and (key-file
//	              mode) master.key.new, all under the new key;
//	CommitRekey   renames node.json.new (the commit point), then finishes:
//	              master.key.new over master.key (or master.key removed when
//	              the folder moves to shares), node-key.sealed.new last.
//
// Recover, run before the folder is used, completes a rekey whose node.json
// was renamed and abandons one whose node.json was not.
const stagedSuffix = ".new"

// StageRekey writes the folder's files re-wrapped under next, beside the
// current ones. seal is the new seal (its verifier is set from next).
func (n *Node) StageRekey(old, next *keyring.MasterKey, seal Seal) (err error) {
	if err := old.Check(n.Seal.Verifier); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			n.AbortRekey()
		}
	}()
	staged := *n
	seal.Verifier = next.Verifier()
	staged.Seal = seal
	if len(n.Documents.MinIOSecretKey) > 0 {
		if staged.Documents.MinIOSecretKey, err = old.Rewrap(next, wrapMinIO, n.Documents.MinIOSecretKey); err != nil {
			return fmt.Errorf("datadir: MinIO secret: %w", err)
		}
	}
	c := &staged.Notifications
	for _, s := range []struct {
		sealed *[]byte
		name   string
	}{{&c.SMTPPasswordSealed, wrapSMTP}, {&c.SMSWebhookSealed, wrapSMSWebhook}} {
		if len(*s.sealed) > 0 {
			if *s.sealed, err = old.Rewrap(next, s.name, *s.sealed); err != nil {
				return fmt.Errorf("datadir: notification secret: %w", err)
			}
		}
	}
	if err := c.seal(next); err != nil {
		return err
	}
	if len(staged.RealName.SecretSealed) > 0 {
		if staged.RealName.SecretSealed, err = old.Rewrap(next, wrapRealName, staged.RealName.SecretSealed); err != nil {
			return fmt.Errorf("datadir: real-name secret: %w", err)
		}
	}
	if err := staged.RealName.seal(next); err != nil {
		return err
	}
	nodeKey, err := os.ReadFile(n.Path(NodeKeyFile))
	if err != nil {
		return err
	}
	moved, err := old.Rewrap(next, wrapNodeKey, nodeKey)
	if err != nil {
		return fmt.Errorf("datadir: %s: %w", n.Path(NodeKeyFile), err)
	}
	if err := writeAtomic(n.Path(NodeKeyFile+stagedSuffix), moved, 0o600); err != nil {
		return err
	}
	if seal.Mode == SealKeyFile {
		b := next.Bytes()
		err := writeAtomic(n.Path(MasterKeyFile+stagedSuffix), b, 0o600)
		clear(b)
		if err != nil {
			return err
		}
	}
	return staged.save(NodeFile + stagedSuffix)
}

// CommitRekey puts the staged files in force and returns the new node.json.
func (n *Node) CommitRekey() (*Node, error) {
	if err := os.Rename(n.Path(NodeFile+stagedSuffix), n.Path(NodeFile)); err != nil {
		return nil, fmt.Errorf("datadir: commit the rekey: %w", err)
	}
	if err := syncDir(n.dir); err != nil {
		return nil, err
	}
	next, err := Load(n.dir)
	if err != nil {
		return nil, err
	}
	return next, next.finishRekey()
}

// finishRekey moves the remaining staged files into place once node.json
// names the new key. Each step can run again after a crash.
func (n *Node) finishRekey() error {
	if n.Seal.Mode == SealShares {
		// The old key file opens nothing the folder uses any more.
		if err := os.Remove(n.Path(MasterKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, name := range []string{MasterKeyFile, NodeKeyFile} { // the node key last: its staged copy marks an unfinished rekey
		if err := os.Rename(n.Path(name+stagedSuffix), n.Path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("datadir: finish the rekey: %w", err)
		}
	}
	return syncDir(n.dir)
}

// AbortRekey removes staged files; the folder keeps its current key.
func (n *Node) AbortRekey() error {
	var errs []error
	for _, name := range []string{NodeFile, MasterKeyFile, NodeKeyFile} { // node.json.new first: it makes the others meaningful
		if err := os.Remove(n.Path(name + stagedSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Recover completes or abandons a rekey that a crash interrupted, and says
// which it did ("" when there was none). The caller holds the folder's lock.
func Recover(dir string) (string, error) {
	n, err := Load(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(n.Path(NodeFile + stagedSuffix)); err == nil {
		return "a rekey stopped before its commit point was abandoned; the old master key stays in force", n.AbortRekey()
	}
	if _, err := os.Stat(n.Path(NodeKeyFile + stagedSuffix)); err == nil {
		return "a rekey stopped after its commit point was completed; the new master key is in force", n.finishRekey()
	}
	return "", nil
}
