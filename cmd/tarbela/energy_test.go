package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestEnergyCommands runs `tarbela energy …` against a real Redis: keygen,
// config check of the key, a meter file with bad rows (named by line,
// nothing imported) and a good one, a curtailment, closing an hour of
// shares, and verify of the report's export, untouched and with one byte
// edited.
func TestEnergyCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	t.Setenv("TARBELA_REDIS_PASSWORD", rs.Password)
	dir := t.TempDir()
	key := filepath.Join(dir, "energy.key")
	cfgText := `[pool]
network = "regtest"
payout_address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
[[nodes]]
rpc_user = "u"
rpc_password = "p"
[redis]
addr = "` + rs.Addr + `"
[energy]
key_file = "` + key + `"
[[sites]]
name = "north"
accounts = ["acct"]
j_per_th = 30
`
	cfg := filepath.Join(dir, "tarbela.toml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	tarbela := func(want int, args ...string) string {
		t.Helper()
		return runTarbela(t, want, args...)
	}
	if out := tarbela(1, "config", "check", cfg); !strings.Contains(out, "energy.key_file") {
		t.Errorf("config check without the key: %s", out)
	}
	tarbela(0, "energy", "keygen", "-key", key)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	tarbela(1, "energy", "keygen", "-key", key) // never overwrites a key
	tarbela(0, "config", "check", cfg)

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("start,end,kwh\n2026-12-01T10:00:00Z,2026-12-01T11:00:00Z,5\n2026-12-01T11:00:00Z,noon,5\n"), 0o600)
	if out := tarbela(1, "energy", "import-meter", "-config", cfg, "-site", "north", bad); !strings.Contains(out, "line 3") {
		t.Errorf("bad meter file: %s", out)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Password: rs.Password})
	defer rdb.Close()
	if n, _ := rdb.Exists(ctx, "tarbela:{acct}:en:meter:north").Result(); n != 0 {
		t.Errorf("a bad meter file imported something")
	}
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("start,end,kwh\n2026-12-01T10:00:00Z,2026-12-01T11:00:00Z,5\n"), 0o600)
	tarbela(0, "energy", "import-meter", "-config", cfg, "-site", "north", good)
	tarbela(1, "energy", "import-meter", "-config", cfg, "-site", "south", good)
	tarbela(1, "energy", "curtail", "-config", cfg, "-site", "north", "-from", "2026-12-01T11:00:00Z", "-to", "2026-12-01T10:00:00Z", "-shed-mw", "2")
	tarbela(0, "energy", "curtail", "-config", cfg, "-site", "north", "-from", "2026-12-01T10:00:00Z", "-to", "2026-12-01T10:30:00Z", "-shed-mw", "2")
	if out := tarbela(0, "energy", "curtailments", "-config", cfg); !strings.Contains(out, "curtailment 1: site north, shed 2 MW") {
		t.Errorf("curtailments: %s", out)
	}

	// Shares three hours ago: due to close now.
	st, err := redisstore.New(redisstore.Options{Addr: rs.Addr, Password: rs.Password})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-3 * time.Hour)
	for i := range 20 {
		if err := st.AddShare(share.Record{Node: 1, Seq: uint64(i + 1), Worker: "acct.r", Account: "acct", Difficulty: 8,
			Time: at.Add(time.Duration(i) * time.Second), Site: "north"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if out := tarbela(0, "energy", "close", "-config", cfg); !strings.Contains(out, "closed 1 hour(s)") {
		t.Errorf("close: %s", out)
	}
	from, to := at.Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)
	tarbela(2, "energy", "report", "-config", cfg, "-from", from, "-to", to, "-format", "xml")
	if out := tarbela(0, "energy", "report", "-config", cfg, "-from", from, "-to", to); !strings.Contains(out, "north") || !strings.Contains(out, "160") {
		t.Errorf("report table: %s", out)
	}
	export := tarbela(0, "energy", "report", "-config", cfg, "-from", from, "-to", to, "-format", "json")
	file := filepath.Join(dir, "export.json")
	os.WriteFile(file, []byte(export), 0o600)
	if out := tarbela(0, "energy", "verify", "-pub", key+".pub", file); !strings.HasPrefix(out, "OK: 1 records") {
		t.Errorf("verify: %s", out)
	}
	i := strings.Index(export, `"accepted":20`) + len(`"accepted":2`)
	os.WriteFile(file, []byte(export[:i]+"1"+export[i+1:]), 0o600)
	if out := tarbela(1, "energy", "verify", "-pub", key+".pub", file); !strings.Contains(out, "line 1 (record 1): altered") {
		t.Errorf("verify of an edited export: %s", out)
	}

	// Archive: the hour ended two hours ago, so --keep 1h moves it out
	// of Redis; a second run has nothing to move; the archive verifies.
	archive := filepath.Join(dir, "energy.archive")
	tarbela(2, "energy", "archive", "-config", cfg)
	tarbela(2, "energy", "archive", "-config", cfg, "-out", archive, "-keep", "1m")
	if out := tarbela(0, "energy", "archive", "-config", cfg, "-out", archive, "-keep", "1h"); !strings.Contains(out, "appended records 1..1") {
		t.Errorf("archive: %s", out)
	}
	if out := tarbela(0, "energy", "archive", "-config", cfg, "-out", archive, "-keep", "1h"); !strings.Contains(out, "archived 0 record(s); Redis holds the records after 1") {
		t.Errorf("archive again: %s", out)
	}
	if n, _ := rdb.HLen(ctx, "tarbela:{acct}:en:chain").Result(); n != 0 {
		t.Errorf("Redis holds %d records after the archive", n)
	}
	if out := tarbela(0, "energy", "verify", "-pub", key+".pub", archive); !strings.HasPrefix(out, "OK: 1 records") {
		t.Errorf("verify of the archive: %s", out)
	}
	os.WriteFile(file, []byte(export), 0o600)
	if out := tarbela(0, "energy", "verify", "-pub", key+".pub", archive, file); !strings.HasPrefix(out, "OK: 1 records") {
		t.Errorf("verify of the archive and an overlapping export: %s", out)
	}
}
