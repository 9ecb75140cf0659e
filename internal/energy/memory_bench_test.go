package energy_test

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// BenchmarkChainMemory seals hours of 1,000 sites with shares in each and
// reports Redis's own MEMORY USAGE of the chain per sealed site-hour, and
// of an open hour (its hash and worker sets) per site (docs/energy.md,
// "Memory"). b.N is the number of hours: run it with -benchtime 24x.
func BenchmarkChainMemory(b *testing.B) {
	benchChain(b, startRedis(b), 1000, 10)
}

func benchChain(b *testing.B, c redis.UniversalClient, sitesN, workersPerSite int) {
	ctx := context.Background()
	list := make([]energy.Site, sitesN)
	for i := range list {
		list[i] = energy.Site{Name: "site-" + strconv.Itoa(i), Accounts: []string{"acct" + strconv.Itoa(i)}, JPerTH: 25, Overhead: 1.1}
	}
	sites := energy.NewSites(list)
	st, err := redisstore.New(redisstore.Options{Addr: c.(*redis.Client).Options().Addr, Password: c.(*redis.Client).Options().Password})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer st.Stop(ctx)
	_, priv, _ := ed25519.GenerateKey(nil)
	l := redisstore.NewEnergyLedger(c, "")
	base := time.Now().Truncate(time.Hour).Add(-time.Duration(b.N+2) * time.Hour)
	var openBytes int64
	seq := uint64(0)
	for h := range b.N {
		at := base.Add(time.Duration(h) * time.Hour)
		for s := range sitesN {
			for w := range workersPerSite {
				seq++
				acct := "acct" + strconv.Itoa(s)
				if err := st.AddShare(share.Record{Node: 1, Seq: seq, Worker: acct + ".w" + strconv.Itoa(w), Account: acct,
					Difficulty: 65536, Time: at.Add(time.Duration(w) * time.Second), Site: "site-" + strconv.Itoa(s)}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := st.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if h == 0 {
			var keys []string
			for _, pat := range []string{"tarbela:{acct}:en:h*", "tarbela:{acct}:en:u:*"} {
				ks, _ := c.Keys(ctx, pat).Result()
				keys = append(keys, ks...)
			}
			for _, k := range keys {
				n, _ := c.MemoryUsage(ctx, k, 0).Result()
				openBytes += n
			}
		}
	}
	closer := energy.Closer{Ledger: l, Sites: sites, Key: priv, Now: time.Now}
	if _, err := closer.CloseDue(ctx); err != nil {
		b.Fatal(err)
	}
	head, _ := l.Head(ctx)
	var mem int64
	for _, k := range []string{"tarbela:{acct}:en:chain", "tarbela:{acct}:en:chain:hour"} {
		n, err := c.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		mem += n
	}
	b.ReportMetric(float64(mem)/float64(head.Seq), "chain-bytes/site-hour")
	b.ReportMetric(float64(openBytes)/float64(sitesN), "open-bytes/site-hour")
	b.ReportMetric(float64(openBytes)/float64(sitesN*workersPerSite), "open-bytes/worker")
}
