package datadir

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/blob"
)

// Spec is everything Create writes.
type Spec struct {
	NodeID, API, Cluster, Advertise string
	Join                            []string
	Master                          *keyring.MasterKey
	KeyFile                         bool // write master.key (embedded default)
	Shares, Threshold               int  // when !KeyFile
	NodeKey                         *sm.PrivateKey
	NodeCert, CA                    *sm.Certificate
	MinIO                           *blob.MinIOConfig // nil keeps documents in the folder
	Gateway                         string            // the gateway listener's address, if any
	Demo                            bool              // a cxt demo node
}

// Create makes a new data folder. It refuses a folder that already holds
// anything, and removes what it wrote if it fails part-way.
func Create(dir string, s Spec) (n *Node, err error) {
	if err := ensureEmpty(dir); err != nil {
		return nil, err
	}
	var written []string
	defer func() {
		if err != nil {
			for i := len(written) - 1; i >= 0; i-- {
				os.RemoveAll(written[i])
			}
		}
	}()
	write := func(name string, data []byte, perm os.FileMode) error {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		written = append(written, path)
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}

	n = &Node{
		Version: 1, NodeID: s.NodeID, API: s.API, Cluster: s.Cluster, Advertise: s.Advertise, Join: s.Join,
		Seal:      Seal{Mode: SealShares, Shares: s.Shares, Threshold: s.Threshold, Verifier: s.Master.Verifier()},
		Documents: Documents{Backend: "dir"},
		Gateway:   Gateway{Listen: s.Gateway},
		Demo:      s.Demo,
		dir:       dir,
	}
	if s.KeyFile {
		n.Seal = Seal{Mode: SealKeyFile, Verifier: s.Master.Verifier()}
		if err := write(MasterKeyFile, s.Master.Bytes(), 0o600); err != nil {
			return nil, err
		}
	}
	if s.MinIO != nil {
		secret, err := s.Master.Wrap(wrapMinIO, []byte(s.MinIO.SecretKey))
		if err != nil {
			return nil, err
		}
		n.Documents = Documents{
			Backend: "minio", MinIOEndpoint: s.MinIO.Endpoint, MinIOAccessKey: s.MinIO.AccessKey,
			MinIOSecretKey: secret, MinIOBucket: s.MinIO.Bucket, MinIOSecure: s.MinIO.Secure,
		}
	}
	keyPEM, err := s.NodeKey.MarshalPEM()
	if err != nil {
		return nil, err
	}
	wrapped, err := s.Master.Wrap(wrapNodeKey, keyPEM)
	clear(keyPEM)
	if err != nil {
		return nil, err
	}
	if err := write(NodeKeyFile, wrapped, 0o600); err != nil {
		return nil, err
	}
	if err := write(NodeCertFile, s.NodeCert.PEM(), 0o644); err != nil {
		return nil, err
	}
	if err := write(CACertFile, s.CA.PEM(), 0o644); err != nil {
		return nil, err
	}
	certPEM, apiKeyPEM, err := apiCertificate("cxt appliance", s.API)
	if err != nil {
		return nil, err
	}
	if err := write(APICertFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := write(APIKeyFile, apiKeyPEM, 0o600); err != nil {
		return nil, err
	}
	gwListen := s.Gateway
	if gwListen == "" { // named by the API's host until the operator says otherwise
		gwListen = s.API
	}
	gwCert, gwKey, err := apiCertificate("cxt gateway", gwListen)
	if err != nil {
		return nil, err
	}
	if err := write(GatewayCert, gwCert, 0o644); err != nil {
		return nil, err
	}
	if err := write(GatewayKey, gwKey, 0o600); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(n, "", "  ")
	// node.json goes last: its presence means the folder is complete.
	if err := write(NodeFile, append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	return n, nil
}

func ensureEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("datadir: %s is not empty; refusing to overwrite it", dir)
	}
	return os.Chmod(dir, 0o700)
}

// apiCertificate makes the business API's self-signed HTTPS certificate
// (ECDSA P-256: browsers and curl do not speak SM2 TLS) for the listen host,
// localhost and 127.0.0.1.
// GatewayCertificate makes the gateway listener's certificate of a folder
// made before the gateway, named for the address it listens on; a folder
// that has one keeps it.
func (n *Node) GatewayCertificate(listen string) error {
	if _, err := os.Stat(n.Path(GatewayCert)); err == nil {
		return nil
	}
	certPEM, keyPEM, err := apiCertificate("cxt gateway", listen)
	if err != nil {
		return err
	}
	// The key first, then the certificate whose presence says both are there.
	if err := os.WriteFile(n.Path(GatewayKey), keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(n.Path(GatewayCert), certPEM, 0o644)
}

func apiCertificate(name, listen string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"cxt"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip != nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if host != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}
