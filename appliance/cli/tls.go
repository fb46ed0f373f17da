package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// pinnedClient returns an HTTPS client that trusts only the given
// certificate, as the operator tools on a node's own machine do.
func pinnedClient(pemCert []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCert) {
		return nil, errors.New("the API certificate is not PEM")
	}
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}
