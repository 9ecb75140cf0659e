package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
		{name: "ssl url", args: []string{"--url", "stratum+ssl://h:1", "--user", "w"}, want: "unsupported scheme"},
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
