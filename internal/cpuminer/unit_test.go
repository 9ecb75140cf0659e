package cpuminer

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tarbela-pool/tarbela/hasher"
	"github.com/tarbela-pool/tarbela/share"
)

// TestVectorShare rebuilds the recorded session's accepted share through
// the miner's own path (extranonce2 encoding, coinbase, merkle root, version
// rolling, nonce scan, submit formatting) and compares every step with the
// recording.
func TestVectorShare(t *testing.T) {
	v := loadVector(t)
	job, err := share.JobFromNotify(v.notifyParams(t, "1", 0x64b3f3ec, false), v.Extranonce2Size)
	if err != nil {
		t.Fatal(err)
	}
	en1, _ := hex.DecodeString(v.Extranonce1)
	target, err := share.TargetFromDifficulty(512)
	if err != nil {
		t.Fatal(err)
	}
	w := newWork(job, nil, 0, en1, v.Extranonce2Size, 0x1fffe000, &goal{target: target, difficulty: 512}, new(atomic.Uint64))
	const unit, nonce = 0xc7080000, 0xed460d91
	// Version 0x20002000 is the first rolled value after the job's own.
	if got := w.rolledVersion(1); got != 0x20002000 {
		t.Fatalf("rolledVersion(1) = %08x, want 20002000", got)
	}
	th := newThread(0)
	root := th.merkleRoot(w, unit)
	th.scanChunk(w, &root, w.rolledVersion(1), nonce&^(ChunkSize-1))
	if len(th.nonces) != 1 || th.nonces[0] != nonce {
		t.Fatalf("scan found %x, want [%x]", th.nonces, nonce)
	}
	share.BuildHeader(&th.header, w.rolledVersion(1), &job.PrevHash, &root, job.CurTime, job.Bits, nonce)
	if got := hex.EncodeToString(th.header[:]); got != v.ExpectedHeader {
		t.Errorf("header\n got %s\nwant %s", got, v.ExpectedHeader)
	}
	hash := hasher.HeaderHash(&th.header)
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		hash[i], hash[j] = hash[j], hash[i]
	}
	if got := hex.EncodeToString(hash[:]); got != v.ExpectedHash {
		t.Errorf("hash %s, want %s", got, v.ExpectedHash)
	}
	params, _ := json.Marshal(submitParams("tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4.bitaxe3",
		found{w: w, unit: unit, version: w.rolledVersion(1), nonce: nonce}))
	want := `["tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4.bitaxe3","1","c7080000","64b3f3ec","ed460d91","00002000"]`
	if string(params) != want {
		t.Errorf("submit params\n got %s\nwant %s", params, want)
	}
}

// TestSubmitLoopDropsStaleShares checks that shares of a job cleaned by
// clean_jobs, or of another connection, are dropped and counted stale.
func TestSubmitLoopDropsStaleShares(t *testing.T) {
	v := loadVector(t)
	job, err := share.JobFromNotify(v.notifyParams(t, "2", 0x64b3f3ec, true), v.Extranonce2Size)
	if err != nil {
		t.Fatal(err)
	}
	m := newMiner(Options{User: "w", Threads: 1, Log: zaptest.NewLogger(t)})
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	s := newSession(m)
	s.conn = client
	g := &goal{difficulty: 1}
	old := newWork(job, s, 0, []byte{1, 2, 3, 4}, 4, 0, g, new(atomic.Uint64))
	s.epoch.Store(1)
	other := newWork(job, newSession(m), 1, []byte{1, 2, 3, 4}, 4, 0, g, new(atomic.Uint64))
	cur := newWork(job, s, 1, []byte{1, 2, 3, 4}, 4, 0, g, new(atomic.Uint64))
	m.found <- found{w: old, unit: 1, nonce: 1}
	m.found <- found{w: other, unit: 2, nonce: 2}
	m.found <- found{w: cur, unit: 5, nonce: 0xed460d91}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.submitLoop(ctx)
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(server).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"method":"mining.submit","params":["w","2","00000005","64b3f3ec","ed460d91"]}` + "\n"
	if line != want {
		t.Errorf("submit line\n got %s\nwant %s", line, want)
	}
	if n := m.stale.Load(); n != 2 {
		t.Errorf("stale = %d, want 2", n)
	}
}

func TestDepositBits(t *testing.T) {
	tests := []struct {
		name string
		k    uint64
		mask uint32
		want uint32
	}{
		{"zero", 0, 0x1fffe000, 0},
		{"lowest mask bit", 1, 0x1fffe000, 0x2000},
		{"second mask bit", 2, 0x1fffe000, 0x4000},
		{"all mask bits", 0xffff, 0x1fffe000, 0x1fffe000},
		{"bits beyond the mask are ignored", 0x1ffff, 0x1fffe000, 0x1fffe000},
		{"scattered mask", 0b101, 0x80000101, 0x80000001},
		{"empty mask", 7, 0, 0},
		{"full mask", 0xdeadbeef, 0xffffffff, 0xdeadbeef},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := depositBits(tc.k, tc.mask); got != tc.want {
				t.Errorf("depositBits(%x, %08x) = %08x, want %08x", tc.k, tc.mask, got, tc.want)
			}
		})
	}
}

// TestRolledVersionsDistinct checks that every k gives a different version
// within the mask, starting with the job's own version.
func TestRolledVersionsDistinct(t *testing.T) {
	tests := []struct {
		name    string
		version uint32
		mask    uint32
	}{
		{"bip9 version, common mask", 0x20000000, 0x1fffe000},
		{"job version with masked bits set", 0x20006000, 0x0001e000},
		{"no rolling", 0x20000000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWork(&share.Job{Version: tc.version}, nil, 0, nil, 4, tc.mask, &goal{}, new(atomic.Uint64))
			seen := map[uint32]bool{}
			for k := uint64(0); k < w.versions; k++ {
				v := w.rolledVersion(k)
				if k == 0 && v != tc.version {
					t.Errorf("first version %08x, want the job's %08x", v, tc.version)
				}
				if v&^tc.mask != tc.version&^tc.mask {
					t.Errorf("version %08x changes bits outside mask %08x", v, tc.mask)
				}
				if seen[v] {
					t.Fatalf("version %08x repeated at k=%d", v, k)
				}
				seen[v] = true
			}
		})
	}
}

func TestPutExtranonce2(t *testing.T) {
	tests := []struct {
		name string
		size int
		unit uint64
		want string
	}{
		{"four bytes", 4, 0xc7080000, "c7080000"},
		{"eight bytes", 8, 1, "0000000000000001"},
		{"wider than the counter", 10, 0x0102, "00000000000000000102"},
		{"two bytes", 2, 0xabcd, "abcd"},
		{"empty", 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, tc.size)
			for i := range b {
				b[i] = 0xff // must be overwritten
			}
			putExtranonce2(b, tc.unit)
			if got := hex.EncodeToString(b); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if extranonce2Units(0) != 1 || extranonce2Units(2) != 1<<16 || extranonce2Units(8) != math.MaxUint64 {
		t.Error("extranonce2Units is wrong")
	}
}

// TestExhaustedExtranonceWaits checks that a thread whose job has no
// extranonce2 values left waits for new work instead of repeating shares,
// and resumes when new work comes.
func TestExhaustedExtranonceWaits(t *testing.T) {
	m := newMiner(Options{Threads: 1})
	w := newWork(syntheticJob(), nil, 0, nil, 0, 0, &goal{}, new(atomic.Uint64)) // one unit only
	w.next.Store(1)                                                              // ...and it is taken
	m.board.set(w)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { m.mine(ctx, 0); close(done) }()
	waitFor(t, "the thread to look for a unit", func() bool { return w.next.Load() >= 2 })
	time.Sleep(20 * time.Millisecond) // time in which a wrong thread would start hashing
	if h := m.ThreadHashes()[0]; h != 0 {
		t.Fatalf("thread hashed %d headers of an exhausted job", h)
	}
	m.board.set(newWork(syntheticJob(), nil, 0, nil, 8, 0, &goal{}, new(atomic.Uint64)))
	waitFor(t, "the thread to mine new work", func() bool { return m.ThreadHashes()[0] > 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("thread did not stop")
	}
}

// waitFor polls cond until it holds; the long deadline only keeps a broken
// miner from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, in, want  string
		secure, wantErr bool
	}{
		{name: "stratum+tcp", in: "stratum+tcp://pool.example:3333", want: "pool.example:3333"},
		{name: "plain host:port", in: "127.0.0.1:3333", want: "127.0.0.1:3333"},
		{name: "tcp scheme", in: "tcp://127.0.0.1:3333", want: "127.0.0.1:3333"},
		{name: "ipv6", in: "stratum+tcp://[::1]:3333", want: "[::1]:3333"},
		{name: "trailing slash", in: "stratum+tcp://h:1/", want: "h:1"},
		{name: "ssl", in: "stratum+ssl://pool.example:3334", want: "pool.example:3334", secure: true},
		{name: "tls", in: "stratum+tls://[::1]:3334", want: "[::1]:3334", secure: true},
		{name: "ssl in capitals", in: "STRATUM+SSL://h:1", want: "h:1", secure: true},
		{name: "unknown scheme", in: "stratum+http://h:1", wantErr: true},
		{name: "no port", in: "stratum+tcp://h", wantErr: true},
		{name: "ssl without port", in: "stratum+ssl://h", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "no host", in: ":3333", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, secure, err := ParseURL(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want || secure != tc.secure {
				t.Errorf("ParseURL(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, got, secure, err, tc.want, tc.secure, tc.wantErr)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr []string
	}{
		{name: "valid", o: Options{URL: "h:1", User: "w"}},
		{name: "every bad field at once", o: Options{URL: "nope", Threads: -1, SuggestDifficulty: math.NaN()},
			wantErr: []string{"pool URL", "user is required", "threads -1", "suggested difficulty"}},
		{name: "negative suggestion", o: Options{URL: "h:1", User: "w", SuggestDifficulty: -1}, wantErr: []string{"suggested difficulty"}},
		{name: "negative timeout", o: Options{URL: "h:1", User: "w", IdleTimeout: -1}, wantErr: []string{"timeouts"}},
		{name: "TLS pool", o: Options{URL: "stratum+ssl://h:1", User: "w", TLSInsecure: true}},
		{name: "TLS options on a plain pool", o: Options{URL: "stratum+tcp://h:1", User: "w", TLSInsecure: true},
			wantErr: []string{"need a stratum+ssl:// pool URL"}},
		{name: "CA file and insecure", o: Options{URL: "stratum+ssl://h:1", User: "w", TLSInsecure: true, TLSCAFile: "ca.pem"},
			wantErr: []string{"exclude each other"}},
		{name: "CA file missing", o: Options{URL: "stratum+ssl://h:1", User: "w", TLSCAFile: "testdata/no-such-ca.pem"},
			wantErr: []string{"TLS CA file", "no-such-ca.pem"}},
		{name: "CA file without certificates", o: Options{URL: "stratum+ssl://h:1", User: "w", TLSCAFile: "testdata/session-2442185.json"},
			wantErr: []string{"holds no PEM certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.o)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if m.o.Threads < 1 || m.o.Pass != "x" || m.o.Log == nil {
					t.Errorf("defaults not applied: %+v", m.o)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStratumError(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		wantCode int
		wantText string
	}{
		{"array", `[23,"Low difficulty share",null]`, 23, "Low difficulty share"},
		{"object", `{"code":21,"message":"Stale"}`, 21, "Stale"},
		{"string", `"boom"`, 0, "boom"},
		{"null", `null`, 0, ""},
		{"number", `42`, 0, "42"},
		{"array with non-string message", `[20,{"x":1}]`, 20, `{"x":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, text := stratumError(json.RawMessage(tc.raw))
			if code != tc.wantCode || text != tc.wantText {
				t.Errorf("got %d %q, want %d %q", code, text, tc.wantCode, tc.wantText)
			}
		})
	}
}

func TestParseReconnect(t *testing.T) {
	tests := []struct {
		name     string
		params   string
		wantAddr string
		wantWait time.Duration
	}{
		{"host port wait", `["pool2.example",3334,5]`, "pool2.example:3334", 5 * time.Second},
		{"port as string", `["h","3334"]`, "h:3334", 0},
		{"empty host keeps ours", `["",3334,0]`, "pool:3334", 0},
		{"no params", `[]`, "", 0},
		{"bad port", `["h",70000]`, "", 0},
		{"wait capped", `["h",1,1e9]`, "h:1", maxReconnectWait},
		{"garbage", `{"a":1}`, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{host: "pool"}
			r := s.parseReconnect(json.RawMessage(tc.params))
			if r.addr != tc.wantAddr || r.wait != tc.wantWait {
				t.Errorf("got %+v, want addr %q wait %v", r, tc.wantAddr, tc.wantWait)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	var r rateLimit
	now := time.Unix(1000, 0)
	for i := range logsPerSecond {
		if ok, _ := r.allow(now); !ok {
			t.Fatalf("line %d held back", i)
		}
	}
	if ok, _ := r.allow(now); ok {
		t.Fatal("line past the limit let through")
	}
	ok, suppressed := r.allow(now.Add(time.Second))
	if !ok || suppressed != 1 {
		t.Errorf("next second: ok=%v suppressed=%d, want true 1", ok, suppressed)
	}
}

func TestUint32BE(t *testing.T) {
	// Header bytes 91 0d 46 ed hold nonce 0xed460d91, sent as "ed460d91".
	if got := uint32BE(0xed460d91); got != "ed460d91" {
		t.Errorf("got %s", got)
	}
}

// BenchmarkChunk measures one chunk of the thread loop (header build,
// midstate, ChunkSize nonces) and reports the hash rate.
func BenchmarkChunk(b *testing.B) {
	job := syntheticJob()
	w := newWork(job, nil, 0, []byte{0, 0, 0, 1}, 8, 0x1fffe000, &goal{difficulty: math.Inf(1)}, new(atomic.Uint64))
	th := newThread(0)
	root := th.merkleRoot(w, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		th.scanChunk(w, &root, w.rolledVersion(uint64(i)), 0)
	}
	b.ReportMetric(float64(b.N)*ChunkSize/b.Elapsed().Seconds()/1e6, "MH/s")
}

// TestUnitsContinueOnOneTip: the extranonce2 count goes on across jobs of
// one tip (a job resent at a new difficulty, a refresh, a reconnect), so the
// miner never mines a header twice; a new tip starts it again.
func TestUnitsContinueOnOneTip(t *testing.T) {
	m := newMiner(Options{Threads: 1})
	var a, b [32]byte
	b[0] = 1
	first := m.unitCounter(a)
	first.Add(5)
	if again := m.unitCounter(a); again != first || again.Load() != 5 {
		t.Fatalf("same tip: counter at %d, want the same counter at 5", again.Load())
	}
	if next := m.unitCounter(b); next == first || next.Load() != 0 {
		t.Fatalf("new tip: counter at %d, want a new one at 0", next.Load())
	}
}
