// Package datadir lays out a node's data folder: what is in it, which files
// are secret, and how they are written so that nothing is half-created.
//
//	node.json         node ID, addresses, seal mode, document backend,
//	                  notification providers (secrets wrapped), payment channel
//	master.key        the master key (embedded default only; 0600, refused if wider)
//	node-key.sealed   the node's SM2 key, wrapped by the master key
//	node.pem, ca.pem  the node certificate and the cluster CA
//	api.pem, api.key  the HTTPS certificate of the business API (0600 key)
//	gateway.pem, gateway.key
//	                  the HTTPS certificate of the tax bureaus' gateway listener
//	                  (0600 key); made at init, or at the first start without one
//	raft/             Raft log (sealed commands) and snapshots
//	state.db          the state machine (sealed values)
//	documents/        sealed documents (folder backend)
//	sandbox-bank.jsonl, file-bank.jsonl
//	                  the payment channel's journal (no names or cards)
//	admin.sock        the operator socket while the node runs (0600)
//	lock              held (flock) by the process serving the folder; its PID
//	*.new             a rekey's staged files (see keys.go); gone once it ends
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/blob"
)

// File names inside the data folder.
const (
	NodeFile      = "node.json"
	MasterKeyFile = "master.key"
	NodeKeyFile   = "node-key.sealed"
	NodeCertFile  = "node.pem"
	CACertFile    = "ca.pem"
	APICertFile   = "api.pem"
	APIKeyFile    = "api.key"
	GatewayCert   = "gateway.pem"
	GatewayKey    = "gateway.key"
	DocumentsDir  = "documents"
	AdminSocket   = "admin.sock"
)

// Seal modes.
const (
	SealKeyFile = "keyfile" // embedded default: master.key beside the data
	SealShares  = "shares"  // production: Shamir shares held by people
)

// Node is node.json.
type Node struct {
	Version   int       `json:"version"`
	NodeID    string    `json:"node_id"`
	API       string    `json:"api_addr"`       // HTTPS business listener
	Cluster   string    `json:"cluster_addr"`   // node-to-node listener
	Advertise string    `json:"advertise_addr"` // what peers dial
	Join      []string  `json:"join,omitempty"` // peers to ask for membership
	Seal      Seal      `json:"seal"`
	Documents Documents `json:"documents"`
	// Notifications configure SMTP and the SMS provider (optional).
	Notifications Notifications `json:"notifications,omitzero"`
	// RealName configures a third-party real-name verification service
	// (optional; without one the embedded sandbox answers).
	RealName RealName `json:"real_name,omitzero"`
	// Security overrides the login and session limits (optional; see
	// docs/security.md for the defaults).
	Security Security `json:"security,omitzero"`
	// Channel is the payment channel payouts go to (optional; without it
	// the embedded sandbox bank).
	Channel Channel `json:"channel,omitzero"`
	// Gateway configures the tax bureaus' gateway listener (optional;
	// without an address the node serves no gateway).
	Gateway Gateway `json:"gateway,omitzero"`
	// Demo marks a node cxt demo created and filled with a documented
	// world of test data; cxt demo refuses any other node.
	Demo bool `json:"demo,omitempty"`
	dir  string
}

// Seal says how the master key is kept and how to recognise it.
type Seal struct {
	Mode      string `json:"mode"`
	Shares    int    `json:"shares,omitempty"`
	Threshold int    `json:"threshold,omitempty"`
	Verifier  []byte `json:"verifier"`
}

// Documents says where documents are kept. The MinIO secret key is stored
// wrapped by the master key.
type Documents struct {
	Backend        string `json:"backend"` // "dir" or "minio"
	MinIOEndpoint  string `json:"minio_endpoint,omitempty"`
	MinIOAccessKey string `json:"minio_access_key,omitempty"`
	MinIOSecretKey []byte `json:"minio_secret_key_sealed,omitempty"`
	MinIOBucket    string `json:"minio_bucket,omitempty"`
	MinIOSecure    bool   `json:"minio_secure,omitempty"`
}

// Gateway configures the tax bureaus' gateway listener (gateway/server).
type Gateway struct {
	Listen string `json:"listen,omitempty"` // HTTPS address of the gateway listener
	// Per-client limits of signed requests on each node (0: the defaults,
	// gateway/bureaus.DefaultRate and DefaultBurst).
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	Burst         int     `json:"burst,omitempty"`
}

// Security holds login and session limits; zero values keep the defaults.
type Security struct {
	CaptchaAfter    int    `json:"captcha_after,omitempty"`    // failures before a captcha is needed
	MaxFailures     int    `json:"max_failures,omitempty"`     // failures in the window that lock
	FailureWindow   string `json:"failure_window,omitempty"`   // e.g. "15m"
	LockFor         string `json:"lock_for,omitempty"`         // e.g. "30m"
	IdleTimeout     string `json:"idle_timeout,omitempty"`     // e.g. "15m"
	AbsoluteTimeout string `json:"absolute_timeout,omitempty"` // e.g. "8h"
	// Per-source limits of requests without a session (see api.Limits).
	AnonymousPerSecond float64 `json:"anonymous_per_second,omitempty"`
	AnonymousBurst     int     `json:"anonymous_burst,omitempty"`
	LoginsPerSecond    float64 `json:"logins_per_second,omitempty"`
	LoginBurst         int     `json:"login_burst,omitempty"`
	RefusalHold        string  `json:"refusal_hold,omitempty"` // e.g. "1s"

	// PasswordMaxAge sets how long a password lasts per role, e.g.
	// {"worker":"never","merchant_admin":"90d"}; unnamed roles keep their
	// defaults (identity.Policy.MaxPasswordAge).
	PasswordMaxAge map[string]string `json:"password_max_age,omitempty"`
}

// ErrNotInitialised is returned for a folder without node.json.
var ErrNotInitialised = errors.New("datadir: not a cxt data folder (run cxt init or cxt join first)")

// Load reads node.json from dir.
func Load(dir string) (*Node, error) {
	b, err := os.ReadFile(filepath.Join(dir, NodeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotInitialised, dir)
	}
	if err != nil {
		return nil, err
	}
	var n Node
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("datadir: %s is corrupt: %w", filepath.Join(dir, NodeFile), err)
	}
	if n.Version != 1 || n.NodeID == "" || len(n.Seal.Verifier) == 0 {
		return nil, fmt.Errorf("datadir: %s is incomplete or from another version", filepath.Join(dir, NodeFile))
	}
	n.dir = dir
	return &n, nil
}

// Dir returns the folder the node lives in.
func (n *Node) Dir() string { return n.dir }

// Path returns the path of a file in the data folder.
func (n *Node) Path(name string) string { return filepath.Join(n.dir, name) }

// MasterFromKeyFile reads and checks the embedded master key.
func (n *Node) MasterFromKeyFile() (*keyring.MasterKey, error) {
	m, err := ReadKeyFile(n.Path(MasterKeyFile))
	if err != nil {
		return nil, err
	}
	if err := m.Check(n.Seal.Verifier); err != nil {
		m.Zero()
		return nil, fmt.Errorf("datadir: %s: %w", n.Path(MasterKeyFile), err)
	}
	return m, nil
}

// Identity returns the node's SM2 key (unwrapped with master) and certificates.
func (n *Node) Identity(master *keyring.MasterKey) (*sm.PrivateKey, *sm.Certificate, *sm.Certificate, error) {
	wrapped, err := os.ReadFile(n.Path(NodeKeyFile))
	if err != nil {
		return nil, nil, nil, err
	}
	pemKey, err := master.Unwrap(wrapNodeKey, wrapped)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := sm.ParsePrivateKeyPEM(pemKey)
	clear(pemKey)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := readCert(n.Path(NodeCertFile))
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := readCert(n.Path(CACertFile))
	if err != nil {
		return nil, nil, nil, err
	}
	return key, cert, ca, nil
}

// MinIO returns the MinIO configuration with its secret unwrapped.
func (n *Node) MinIO(master *keyring.MasterKey) (blob.MinIOConfig, error) {
	secret, err := master.Unwrap(wrapMinIO, n.Documents.MinIOSecretKey)
	if err != nil {
		return blob.MinIOConfig{}, err
	}
	return blob.MinIOConfig{
		Endpoint: n.Documents.MinIOEndpoint, AccessKey: n.Documents.MinIOAccessKey, SecretKey: string(secret),
		Bucket: n.Documents.MinIOBucket, Secure: n.Documents.MinIOSecure,
	}, nil
}

func readCert(path string) (*sm.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return sm.ParseCertificatePEM(b)
}
