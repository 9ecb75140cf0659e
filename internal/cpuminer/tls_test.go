package cpuminer

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/tlscert"
	"github.com/tarbela-pool/tarbela/stratum"
)

// tlsServer starts Tarbela's server with a TLS listener on a self-signed
// pair made for the test, and returns it with the certificate's file.
func tlsServer(t *testing.T) (*stratum.Server, *countingStore, string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := tlscert.Ensure(cert, key, tlscert.Loopback, time.Hour); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv, store := startTarbela(t, &tls.Config{Certificates: []tls.Certificate{pair}})
	return srv, store, cert
}

// TestMineOverTLS mines over stratum+ssl:// against Tarbela's TLS listener,
// trusting its self-signed certificate (--tls-ca) and, on another miner,
// accepting any (--tls-insecure): every share is accepted, over TLS.
func TestMineOverTLS(t *testing.T) {
	srv, store, cert := tlsServer(t)
	url := "stratum+ssl://" + srv.TLSAddr().String()
	for _, tc := range []struct {
		name string
		o    Options
		want uint64
	}{
		{"trusting the certificate", Options{URL: url, TLSCAFile: cert, VersionRolling: true}, 30},
		{"insecure, by host name", Options{URL: "stratum+tls://localhost:" + port(t, srv), TLSInsecure: true}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.TLSHandshakeFailures()
			tc.o.User, tc.o.Threads, tc.o.SuggestDifficulty = "tb1qminer.tls", 2, 1e-5
			if st := mineAll(t, tc.o, store, tc.want); !st.Connected || tc.o.VersionRolling && st.VersionMask != 0x1fffe000 {
				t.Errorf("stats while mining %+v", st)
			}
			if n := srv.TLSHandshakeFailures(); n != before {
				t.Errorf("%d handshakes failed", n-before)
			}
		})
	}
	waitFor(t, "the miners to leave", func() bool { return srv.Connections() == 0 })
}

// port returns srv's TLS port.
func port(t *testing.T, srv *stratum.Server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUntrustedCertificate: without --tls-ca or --tls-insecure the miner
// refuses the pool's self-signed certificate: Run ends with a *CertError
// that says how to trust it, having mined nothing; and a CA that is not the
// pool's is refused the same way.
func TestUntrustedCertificate(t *testing.T) {
	srv, _, _ := tlsServer(t)
	otherCert := filepath.Join(t.TempDir(), "other.crt")
	if _, err := tlscert.Ensure(otherCert, otherCert+".key", tlscert.Loopback, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ca   string
	}{{"system roots", ""}, {"another CA", otherCert}} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.TLSHandshakeFailures()
			m, err := New(Options{URL: "stratum+ssl://" + srv.TLSAddr().String(), User: "tb1qminer.tls", Threads: 1,
				TLSCAFile: tc.ca, RetryMin: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = m.Run(ctx)
			var ce *CertError
			if !errors.As(err, &ce) {
				t.Fatalf("Run: %v, want a *CertError", err)
			}
			if ctx.Err() != nil {
				t.Fatal("Run retried until the hang guard instead of giving up")
			}
			for _, w := range []string{"TLS certificate not trusted", "--tls-ca", "--tls-insecure", "x509"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if st := m.Stats(); st.Connects != 0 || st.Submitted != 0 {
				t.Errorf("stats %+v, want no connection", st)
			}
			waitFor(t, "the server to count the failed handshake", func() bool { return srv.TLSHandshakeFailures() > before })
		})
	}
}

// TestTLSOnPlainPort: a miner speaking TLS to a plain Stratum port, and one
// speaking plain Stratum to a TLS port, get no work and keep retrying
// without an error that ends Run.
func TestTLSOnPlainPort(t *testing.T) {
	srv, _, _ := tlsServer(t)
	for _, url := range []string{"stratum+ssl://" + srv.Addr().String(), "stratum+tcp://" + srv.TLSAddr().String()} {
		m, err := New(Options{URL: url, User: "w", Threads: 1, TLSInsecure: strings.HasPrefix(url, "stratum+ssl"),
			RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err = m.Run(ctx)
		cancel()
		if err != nil {
			t.Errorf("%s: Run: %v, want nil at the end of its context", url, err)
		}
		if st := m.Stats(); st.Jobs != 0 || st.Accepted != 0 {
			t.Errorf("%s: stats %+v, want no work", url, st)
		}
	}
}
