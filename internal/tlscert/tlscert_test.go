package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSelfSigned: the pair loads, the key is ECDSA P-256, the certificate
// names every host (IP and DNS), lasts as long as asked and verifies
// against itself as the only root.
func TestSelfSigned(t *testing.T) {
	certPEM, keyPEM, err := SelfSigned(Loopback, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 365*24*time.Hour || d > 365*24*time.Hour+2*time.Minute {
		t.Errorf("valid for %v, want a year", d)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, h := range Loopback {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "pool.example", Roots: roots}); err == nil {
		t.Error("certificate verifies for a host it does not name")
	}
}

func TestSelfSignedBadInput(t *testing.T) {
	if _, _, err := SelfSigned(nil, time.Hour); err == nil {
		t.Error("no hosts: no error")
	}
	if _, _, err := SelfSigned(Loopback, 0); err == nil {
		t.Error("zero validity: no error")
	}
}

// TestEnsure: a missing pair is written 0600, a usable one is kept, and
// a broken or short-lived one is replaced.
func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	created, err := Ensure(cert, key, Loopback, 365*24*time.Hour)
	if err != nil || !created {
		t.Fatalf("first Ensure: created %v, %v", created, err)
	}
	for _, f := range []string{cert, key} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	first, _ := os.ReadFile(cert)
	if created, err := Ensure(cert, key, Loopback, 365*24*time.Hour); err != nil || created {
		t.Fatalf("second Ensure: created %v, %v; want the pair kept", created, err)
	}
	if again, _ := os.ReadFile(cert); string(again) != string(first) {
		t.Error("a usable pair was rewritten")
	}
	if created, err := Ensure(cert, key, []string{"pool.example"}, time.Hour); err != nil || !created {
		t.Errorf("pair for other hosts: created %v, %v; want a new one", created, err)
	}
	if created, err := Ensure(cert, key, Loopback, time.Hour); err != nil || !created {
		t.Errorf("back to the loopback names: created %v, %v; want a new pair", created, err)
	}
	// That pair has an hour left: less than the day Ensure wants.
	if created, err := Ensure(cert, key, Loopback, 365*24*time.Hour); err != nil || !created {
		t.Errorf("pair valid for an hour: created %v, %v; want a new one", created, err)
	}
	if err := os.WriteFile(key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if created, err := Ensure(cert, key, Loopback, 365*24*time.Hour); err != nil || !created {
		t.Errorf("broken key: created %v, %v; want a new pair", created, err)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		t.Errorf("replaced pair does not load: %v", err)
	}
}
