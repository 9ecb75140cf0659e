package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Loopback are the names a devnet's certificate is valid for: what a miner
// on the same machine dials.
var Loopback = []string{"127.0.0.1", "::1", "localhost"}

// SelfSigned returns a PEM certificate and PEM private key (PKCS #8) for
// hosts, valid from a minute ago (a client's clock may lag) for validFor.
// Each host that parses as an IP address goes into the IP SANs, any other
// into the DNS SANs. The certificate is its own issuer and a CA, so that a
// client can trust exactly it (the miner's --tls-ca).
func SelfSigned(hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("tlscert: no host names")
	}
	if validFor <= 0 {
		return nil, nil, fmt.Errorf("tlscert: validity %v is not positive", validFor)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Tarbela devnet"}, CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: key encoding: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// Ensure makes sure certFile and keyFile hold a pair for hosts that is
// valid for at least another day: a pair already there is kept (so that a
// miner told to trust it keeps trusting it), anything else is replaced by a
// new SelfSigned pair valid for validFor. Both files are written 0600. It
// reports whether it wrote a new pair.
func Ensure(certFile, keyFile string, hosts []string, validFor time.Duration) (created bool, err error) {
	if usable(certFile, keyFile, hosts) {
		return false, nil
	}
	certPEM, keyPEM, err := SelfSigned(hosts, validFor)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
		return false, fmt.Errorf("tlscert: %w", err)
	}
	// The key first: a certificate without its key is never left behind
	// looking usable.
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return false, fmt.Errorf("tlscert: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return false, fmt.Errorf("tlscert: %w", err)
	}
	return true, nil
}

// usable reports whether the files hold a matching pair whose certificate
// names every host and stays valid for at least a day.
func usable(certFile, keyFile string, hosts []string) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || pair.Leaf == nil {
		return false
	}
	now := time.Now()
	if now.Before(pair.Leaf.NotBefore) || now.Add(24*time.Hour).After(pair.Leaf.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if pair.Leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}
