package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/tlscert"
)

func TestBenchmarkFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--benchmark", "--duration", "300ms", "-t", "2"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	m := regexp.MustCompile(`(?m)^total: ([0-9.]+) MH/s \(threads=2,`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no total line in:\n%s", out.String())
	}
	if rate, _ := strconv.ParseFloat(m[1], 64); rate <= 0 {
		t.Errorf("total rate %v, want > 0", rate)
	}
	if n := strings.Count(out.String(), "MH/s"); n != 3 {
		t.Errorf("%d MH/s lines, want 2 threads + total:\n%s", n, out.String())
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no pool", args: []string{"-u", "w"}, want: "pool URL"},
		{name: "no user", args: []string{"-o", "127.0.0.1:3333"}, want: "user is required"},
		{name: "unknown flag", args: []string{"--nope"}, want: "not defined"},
		{name: "stray argument", args: []string{"-o", "h:1", "-u", "w", "extra"}, want: "unexpected arguments"},
		{name: "negative duration", args: []string{"--duration", "-1s"}, want: "must not be negative"},
		{name: "unknown scheme", args: []string{"--url", "stratum+http://h:1", "--user", "w"}, want: "unsupported scheme"},
		{name: "TLS flag on a plain URL", args: []string{"-o", "stratum+tcp://h:1", "-u", "w", "--tls-insecure"}, want: "need a stratum+ssl:// pool URL"},
		{name: "CA file missing", args: []string{"-o", "stratum+ssl://h:1", "-u", "w", "--tls-ca", "no-such.pem"}, want: "no-such.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errOut); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", errOut.String(), tc.want)
			}
		})
	}
}

// TestDurationStops runs the miner against an address nobody listens on:
// it keeps retrying and stops when --duration runs out, printing totals.
func TestDurationStops(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-o", "stratum+tcp://127.0.0.1:1", "-u", "w", "-t", "1", "--duration", "200ms", "--stats", "50ms"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "total: accepted=0 rejected=0") || !strings.Contains(out.String(), "pool=down") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestUntrustedPoolExits: a TLS pool whose certificate the miner does not
// trust ends the run at once with exit code 1 and a line that says how to
// trust it, instead of retrying forever.
func TestUntrustedPoolExits(t *testing.T) {
	certPEM, keyPEM, err := tlscert.SelfSigned(tlscert.Loopback, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, []string{"-o", "stratum+ssl://" + ln.Addr().(*net.TCPAddr).String(), "-u", "w", "-t", "1", "--stats", "0"}, &out, &errOut)
	if ctx.Err() != nil {
		t.Fatal("the miner retried until the hang guard")
	}
	if code != 1 || !strings.Contains(errOut.String(), "TLS certificate not trusted") || !strings.Contains(errOut.String(), "--tls-ca") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
