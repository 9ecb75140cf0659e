package daemon

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tarbela-pool/tarbela/config"
)

// TLSConfig reads the Stratum TLS listener's certificate and key
// (stratum.tls_cert_file and tls_key_file) and returns the listener's
// configuration; nil, nil when stratum.tls_listen is empty. Its error is a
// *config.ValidationError naming each bad key and the fix, so that
// `tarbela config check` reports it like the file's own problems: config
// validates that both keys are set, but reads no file but the config.
func TLSConfig(st config.Stratum) (*tls.Config, error) {
	if st.TLSListen == "" {
		return nil, nil
	}
	const certKey, keyKey = "stratum.tls_cert_file", "stratum.tls_key_file"
	var probs []config.Problem
	bad := func(field, format string, args ...any) {
		probs = append(probs, config.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	certPEM, err := os.ReadFile(st.TLSCertFile)
	if err != nil {
		bad(certKey, "cannot be read (%v): point it at the PEM certificate the pool serves, readable by the pool's user", err)
	}
	keyPEM, err := os.ReadFile(st.TLSKeyFile)
	if err != nil {
		bad(keyKey, "cannot be read (%v): point it at the PEM private key of %s, readable by the pool's user", err, certKey)
	}
	if len(probs) > 0 {
		return nil, &config.ValidationError{Problems: probs}
	}
	var leaf *x509.Certificate
	switch first := firstPEM(certPEM, "CERTIFICATE"); {
	case first == nil && firstPEM(certPEM, "PRIVATE KEY") != nil:
		bad(certKey, "%s holds a private key, not a certificate: are tls_cert_file and tls_key_file swapped?", st.TLSCertFile)
	case first == nil:
		bad(certKey, "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", st.TLSCertFile)
	default:
		if leaf, err = x509.ParseCertificate(first.Bytes); err != nil {
			bad(certKey, "%s: the first certificate does not parse (%v)", st.TLSCertFile, err)
		}
	}
	if firstPEM(keyPEM, "PRIVATE KEY") == nil {
		bad(keyKey, "%s holds no PEM private key (-----BEGIN PRIVATE KEY-----, or RSA/EC PRIVATE KEY)", st.TLSKeyFile)
	}
	if len(probs) > 0 {
		return nil, &config.ValidationError{Problems: probs}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := fmt.Sprintf("%s cannot be used with the certificate in %s (%v)", st.TLSKeyFile, st.TLSCertFile, err)
		if strings.Contains(err.Error(), "does not match") {
			msg = fmt.Sprintf("%s is not the key of the certificate in %s: use the key the certificate was issued for", st.TLSKeyFile, st.TLSCertFile)
		}
		bad(keyKey, "%s", msg)
		return nil, &config.ValidationError{Problems: probs}
	}
	pair.Leaf = leaf
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// firstPEM returns the first PEM block of data whose type ends in suffix
// ("CERTIFICATE", "PRIVATE KEY"), or nil.
func firstPEM(data []byte, suffix string) *pem.Block {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if strings.HasSuffix(b.Type, suffix) {
			return b
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
	}
}

// TLSCertificateWarning is what an operator should hear about the TLS
// listener's certificate at now: that it has expired, is not valid yet, or
// expires within two weeks; "" when none (or when c is nil). Miners that
// check certificates refuse an expired one; many ASIC firmwares do not, so
// it is a warning and not a reason to refuse to start.
func TLSCertificateWarning(c *tls.Config, now time.Time) string {
	if c == nil || len(c.Certificates) == 0 || c.Certificates[0].Leaf == nil {
		return ""
	}
	leaf := c.Certificates[0].Leaf
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
	switch {
	case now.After(leaf.NotAfter):
		return "the TLS certificate expired on " + day(leaf.NotAfter) + ": renew it (miners that check certificates refuse it)"
	case now.Before(leaf.NotBefore):
		return "the TLS certificate is not valid before " + day(leaf.NotBefore) + ": check the clock or the certificate"
	case now.Add(14 * 24 * time.Hour).After(leaf.NotAfter):
		return "the TLS certificate expires on " + day(leaf.NotAfter) + ": renew it"
	}
	return ""
}

// StratumTLSAddr is the Stratum TLS listener's address, "" when there is
// none.
func (d *Daemon) StratumTLSAddr() string {
	if a := d.server.TLSAddr(); a != nil {
		return a.String()
	}
	return ""
}
