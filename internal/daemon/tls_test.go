package daemon_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/tlscert"
)

// TestTLSConfig: the TLS listener's files are read and checked, every
// problem named by its key with the fix, both files at once; off means no
// configuration and no error.
func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM, keyPEM, err := tlscert.SelfSigned(tlscert.Loopback, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := tlscert.SelfSigned(tlscert.Loopback, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := write("tls.crt", certPEM), write("tls.key", keyPEM)
	other := write("other.key", otherKey)
	junk := write("junk", []byte("not PEM at all\n"))
	missing := filepath.Join(dir, "missing")

	if c, err := daemon.TLSConfig(config.Stratum{}); c != nil || err != nil {
		t.Fatalf("TLS off: %v, %v; want nil, nil", c, err)
	}
	st := config.Stratum{TLSListen: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key}
	c, err := daemon.TLSConfig(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificates) != 1 || c.Certificates[0].Leaf == nil || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("config %+v", c)
	}

	for _, tc := range []struct {
		name, cert, key string
		fields          []string
		want            string
	}{
		{"both missing", missing, missing, []string{"stratum.tls_cert_file", "stratum.tls_key_file"}, "cannot be read"},
		{"swapped", key, cert, []string{"stratum.tls_cert_file", "stratum.tls_key_file"}, "swapped"},
		{"certificate not PEM", junk, key, []string{"stratum.tls_cert_file"}, "no PEM certificate"},
		{"key not PEM", cert, junk, []string{"stratum.tls_key_file"}, "no PEM private key"},
		{"key of another certificate", cert, other, []string{"stratum.tls_key_file"}, "is not the key of the certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := daemon.TLSConfig(config.Stratum{TLSListen: "127.0.0.1:0", TLSCertFile: tc.cert, TLSKeyFile: tc.key})
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v, want a *config.ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Field)
			}
			if !slices.Equal(got, tc.fields) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("problems %v (%v), want %v with %q", got, err, tc.fields, tc.want)
			}
		})
	}

}

// TestTLSCertificateWarning: an expired, not yet valid or soon expiring
// certificate is worth a warning; none for a valid one or no TLS.
func TestTLSCertificateWarning(t *testing.T) {
	certPEM, keyPEM, err := tlscert.SelfSigned(tlscert.Loopback, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}}
	leaf := pair.Leaf
	for _, tc := range []struct {
		name string
		now  time.Time
		want string
	}{
		{"valid", leaf.NotBefore.Add(time.Hour), ""},
		{"expires soon", leaf.NotAfter.Add(-time.Hour), "expires on"},
		{"expired", leaf.NotAfter.Add(time.Second), "expired on"},
		{"not yet valid", leaf.NotBefore.Add(-time.Second), "not valid before"},
	} {
		if got := daemon.TLSCertificateWarning(c, tc.now); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warning %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := daemon.TLSCertificateWarning(nil, time.Now()); got != "" {
		t.Errorf("no TLS: warning %q", got)
	}
}
