package node

import "crypto/tls"

// apiTLS is the business listener's TLS: 1.3, or 1.2 with ECDHE key exchange
// (forward secrecy) and AEAD ciphers only — no CBC, no SHA-1 MACs, no RSA
// key transport. TLS 1.3 suites are all AEAD and not configurable. The RSA
// suites are listed for an operator who swaps api.pem for an RSA certificate.
func apiTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
