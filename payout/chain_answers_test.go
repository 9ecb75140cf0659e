package payout_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/pool"
)

// answer is a stand-in node's reply to one call: a raw JSON result, or a
// JSON-RPC error when code is not 0.
type answer struct {
	result string
	code   int
	msg    string
}

func ok(result string) answer            { return answer{result: result} }
func rpcErr(code int, msg string) answer { return answer{code: code, msg: msg} }

// standIn is a node that answers from a table, keyed by method alone or by
// the method and its JSON params ("getblockheader [\"…\",false]"). A
// method it has no answer for gets -32601 Method not found. It counts the
// calls per method.
type standIn struct {
	answers map[string]answer
	mu      sync.Mutex
	calls   map[string]int
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls[req.Method]++
	s.mu.Unlock()
	a, found := s.answers[req.Method+" "+string(req.Params)]
	if !found {
		a, found = s.answers[req.Method]
	}
	if !found {
		a = rpcErr(-32601, "Method not found")
	}
	if a.code != 0 {
		msg, _ := json.Marshal(a.msg)
		fmt.Fprintf(w, `{"result":null,"error":{"code":%d,"message":%s},"id":%s}`, a.code, msg, req.ID)
		return
	}
	fmt.Fprintf(w, `{"result":%s,"error":null,"id":%s}`, a.result, req.ID)
}

// standInChain returns a Chain talking to a stand-in node with answers.
func standInChain(t *testing.T, answers map[string]answer) (*payout.Chain, *standIn) {
	t.Helper()
	s := &standIn{answers: answers, calls: map[string]int{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := pool.NewRPCClient("stand-in", srv.URL, "u", "p", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return payout.NewChain(c), s
}

var (
	hashA = strings.Repeat("a1", 32)
	hashB = strings.Repeat("b2", 32)
)

func quote(s string) string { return `"` + s + `"` }

// genesisHex is regtest's genesis block serialized, and genesisHash its
// hash: a real block for RawBlock's decoder.
func genesisHex(t *testing.T) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := chaincfg.RegressionNetParams.GenesisBlock.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes()), chaincfg.RegressionNetParams.GenesisHash.String()
}

// TestChainAnswers feeds each call well-formed and malformed node answers:
// every malformed answer is an error (never a panic, never a made-up
// value), and the answers the two nodes give where they differ come out
// the same.
func TestChainAnswers(t *testing.T) {
	ctx := context.Background()
	genesis, genesisHash := genesisHex(t)

	t.Run("Tip", func(t *testing.T) {
		tests := []struct {
			name       string
			result     string
			wantHeight int64
			wantErr    bool
		}{
			{name: "good", result: `{"chain":"regtest","blocks":7,"bestblockhash":"` + hashA + `"}`, wantHeight: 7},
			{name: "upper-case hash", result: `{"blocks":7,"bestblockhash":"` + strings.ToUpper(hashA) + `"}`, wantHeight: 7},
			{name: "null", result: `null`, wantErr: true},
			{name: "empty object", result: `{}`, wantErr: true},
			{name: "no hash", result: `{"blocks":7}`, wantErr: true},
			{name: "negative height", result: `{"blocks":-1,"bestblockhash":"` + hashA + `"}`, wantErr: true},
			{name: "height not a number", result: `{"blocks":"7","bestblockhash":"` + hashA + `"}`, wantErr: true},
			{name: "fractional height", result: `{"blocks":7.5,"bestblockhash":"` + hashA + `"}`, wantErr: true},
			{name: "short hash", result: `{"blocks":7,"bestblockhash":"abcd"}`, wantErr: true},
			{name: "hash not hex", result: `{"blocks":7,"bestblockhash":"` + strings.Repeat("zz", 32) + `"}`, wantErr: true},
			{name: "array", result: `[7]`, wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, map[string]answer{"getblockchaininfo": ok(tc.result)})
				h, hash, err := c.Tip(ctx)
				if tc.wantErr {
					if err == nil {
						t.Fatalf("Tip = %d, %s; want an error", h, hash)
					}
					return
				}
				if err != nil || h != tc.wantHeight || hash != hashA {
					t.Fatalf("Tip = %d, %s, %v; want %d, %s", h, hash, err, tc.wantHeight, hashA)
				}
			})
		}
	})

	t.Run("BlockHash", func(t *testing.T) {
		tests := []struct {
			name      string
			answer    answer
			want      string
			wantAbove bool
			wantErr   bool
		}{
			{name: "good", answer: ok(quote(hashA)), want: hashA},
			{name: "core out of range", answer: rpcErr(-8, "Block height out of range"), wantAbove: true, wantErr: true},
			{name: "btcd out of range", answer: rpcErr(-1, "Block number out of range"), wantAbove: true, wantErr: true},
			{name: "other -8", answer: rpcErr(-8, "Invalid parameter"), wantErr: true},
			{name: "syncing", answer: rpcErr(-10, "Bitcoin is downloading blocks..."), wantErr: true},
			{name: "number", answer: ok(`12`), wantErr: true},
			{name: "null", answer: ok(`null`), wantErr: true},
			{name: "short", answer: ok(`"abc"`), wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, map[string]answer{"getblockhash": tc.answer})
				got, err := c.BlockHash(ctx, 5)
				if errors.Is(err, payout.ErrAboveTip) != tc.wantAbove || (err != nil) != tc.wantErr || got != tc.want {
					t.Fatalf("BlockHash = %q, %v; want %q, above tip %v, error %v", got, err, tc.want, tc.wantAbove, tc.wantErr)
				}
			})
		}
		c, _ := standInChain(t, nil)
		if _, err := c.BlockHash(ctx, -1); err == nil {
			t.Fatal("BlockHash(-1) succeeded")
		}
	})

	t.Run("BlockInfo", func(t *testing.T) {
		header := func(hash string, conf, height int64) string {
			return fmt.Sprintf(`{"hash":%q,"confirmations":%d,"height":%d,"version":1}`, hash, conf, height)
		}
		// A raw header whose parent is hashB, for btcd's side branch.
		var hdr wire.BlockHeader
		parent, err := chainhash.NewHashFromStr(hashB)
		if err != nil {
			t.Fatal(err)
		}
		hdr.PrevBlock = *parent
		var buf bytes.Buffer
		_ = hdr.Serialize(&buf)
		rawHeader := quote(hex.EncodeToString(buf.Bytes()))
		offMain := rpcErr(-32603, "block "+hashA+" is not in the main chain")
		verbose := func(h string) string { return `getblockheader ["` + h + `",true]` }
		raw := func(h string) string { return `getblockheader ["` + h + `",false]` }

		tests := []struct {
			name      string
			answers   map[string]answer
			want      payout.BlockInfo
			wantFound bool
			wantErr   bool
		}{
			{name: "main chain", answers: map[string]answer{verbose(hashA): ok(header(hashA, 3, 10))},
				want: payout.BlockInfo{Height: 10, Confirmations: 3, InMainChain: true}, wantFound: true},
			{name: "core off the main chain", answers: map[string]answer{verbose(hashA): ok(header(hashA, -1, 10))},
				want: payout.BlockInfo{Height: 10, Confirmations: -1}, wantFound: true},
			{name: "zero confirmations is off the main chain", answers: map[string]answer{verbose(hashA): ok(header(hashA, 0, 10))},
				want: payout.BlockInfo{Height: 10, Confirmations: -1}, wantFound: true},
			{name: "unknown block", answers: map[string]answer{verbose(hashA): rpcErr(-5, "Block not found")}},
			{name: "btcd off the main chain", answers: map[string]answer{
				verbose(hashA): offMain, raw(hashA): ok(rawHeader), verbose(hashB): ok(header(hashB, 4, 9))},
				want: payout.BlockInfo{Height: 10, Confirmations: -1}, wantFound: true},
			{name: "btcd off the main chain, raw header garbage", answers: map[string]answer{
				verbose(hashA): offMain, raw(hashA): ok(`"00ff"`)}, wantErr: true},
			{name: "btcd off the main chain, parent says off without saying so", answers: map[string]answer{
				verbose(hashA): offMain, raw(hashA): ok(rawHeader), verbose(hashB): ok(header(hashB, -1, 9))}, wantErr: true},
			{name: "btcd off the main chain, gone meanwhile", answers: map[string]answer{
				verbose(hashA): offMain, raw(hashA): rpcErr(-5, "Block not found")}},
			{name: "answer for another block", answers: map[string]answer{verbose(hashA): ok(header(hashB, 3, 10))}, wantErr: true},
			{name: "no confirmations", answers: map[string]answer{verbose(hashA): ok(`{"hash":"` + hashA + `","height":10}`)}, wantErr: true},
			{name: "no height", answers: map[string]answer{verbose(hashA): ok(`{"hash":"` + hashA + `","confirmations":1}`)}, wantErr: true},
			{name: "negative height", answers: map[string]answer{verbose(hashA): ok(header(hashA, 1, -3))}, wantErr: true},
			{name: "string", answers: map[string]answer{verbose(hashA): ok(`"hello"`)}, wantErr: true},
			{name: "null", answers: map[string]answer{verbose(hashA): ok(`null`)}, wantErr: true},
			{name: "other error", answers: map[string]answer{verbose(hashA): rpcErr(-32603, "database closed")}, wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, tc.answers)
				info, found, err := c.BlockInfo(ctx, hashA)
				if (err != nil) != tc.wantErr || found != tc.wantFound || info != tc.want {
					t.Fatalf("BlockInfo = %+v, %v, %v; want %+v, found %v, error %v", info, found, err, tc.want, tc.wantFound, tc.wantErr)
				}
			})
		}
		c, _ := standInChain(t, nil)
		if _, _, err := c.BlockInfo(ctx, "not a hash"); err == nil {
			t.Fatal("BlockInfo(not a hash) succeeded")
		}
	})

	t.Run("RawBlock", func(t *testing.T) {
		tests := []struct {
			name        string
			answer      answer
			wantUnknown bool
			wantErr     bool
		}{
			{name: "good", answer: ok(quote(genesis))},
			{name: "unknown", answer: rpcErr(-5, "Block not found"), wantUnknown: true, wantErr: true},
			{name: "bytes after the block", answer: ok(quote(genesis + "00")), wantErr: true},
			{name: "truncated", answer: ok(quote(genesis[:len(genesis)-2])), wantErr: true},
			{name: "header only", answer: ok(quote(genesis[:160])), wantErr: true},
			{name: "odd hex", answer: ok(quote(genesis[:len(genesis)-1])), wantErr: true},
			{name: "not hex", answer: ok(`"zz"`), wantErr: true},
			{name: "empty", answer: ok(`""`), wantErr: true},
			{name: "verbose object", answer: ok(`{"hash":"` + genesisHash + `"}`), wantErr: true},
			{name: "null", answer: ok(`null`), wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, map[string]answer{"getblock": tc.answer})
				b, err := c.RawBlock(ctx, genesisHash)
				if errors.Is(err, payout.ErrUnknownBlock) != tc.wantUnknown || (err != nil) != tc.wantErr {
					t.Fatalf("RawBlock = %v; want unknown %v, error %v", err, tc.wantUnknown, tc.wantErr)
				}
				if err == nil && b.BlockHash().String() != genesisHash {
					t.Fatalf("RawBlock decoded block %s", b.BlockHash())
				}
			})
		}
		// The node answers with another block than the one asked for.
		c, _ := standInChain(t, map[string]answer{"getblock": ok(quote(genesis))})
		if _, err := c.RawBlock(ctx, hashA); err == nil {
			t.Fatal("RawBlock took another block than the one asked for")
		}
	})

	t.Run("FeeRate", func(t *testing.T) {
		noSmartFee := rpcErr(-32601, "Method not found")
		tests := []struct {
			name    string
			answers map[string]answer
			want    float64
			wantOK  bool
			wantErr bool
		}{
			// Core: BTC per kvB.
			{name: "core 1 sat/vB", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":0.00001000,"blocks":2}`)}, want: 1, wantOK: true},
			{name: "core fraction", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":0.00012345,"blocks":6}`)}, want: 12.345, wantOK: true},
			{name: "core exponent", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":2e-05,"blocks":6}`)}, want: 2, wantOK: true},
			{name: "core no estimate", answers: map[string]answer{"estimatesmartfee": ok(`{"errors":["Insufficient data or no feerate found"],"blocks":0}`)}},
			{name: "core zero", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":0,"blocks":2}`)}},
			{name: "core negative", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":-1,"blocks":2}`)}},
			{name: "core rate a string", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":"fast"}`)}, wantErr: true},
			{name: "core rate beyond float64", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":1e400}`)}, wantErr: true},
			{name: "core rate beyond any fee", answers: map[string]answer{"estimatesmartfee": ok(`{"feerate":1e9}`)}, wantErr: true},
			{name: "core null", answers: map[string]answer{"estimatesmartfee": ok(`null`)}, wantErr: true},
			{name: "core error", answers: map[string]answer{"estimatesmartfee": rpcErr(-8, "Invalid conf_target")}, wantErr: true},
			// btcd: BTC per kB, through estimatefee.
			{name: "btcd rate", answers: map[string]answer{"estimatesmartfee": noSmartFee, "estimatefee": ok(`0.0002`)}, want: 20, wantOK: true},
			{name: "btcd zero", answers: map[string]answer{"estimatesmartfee": noSmartFee, "estimatefee": ok(`0`)}},
			{name: "btcd minus one", answers: map[string]answer{"estimatesmartfee": noSmartFee, "estimatefee": ok(`-1`)}},
			{name: "btcd too few blocks", answers: map[string]answer{"estimatesmartfee": noSmartFee,
				"estimatefee": rpcErr(-32600, "Invalid request: malformed")}},
			{name: "btcd object", answers: map[string]answer{"estimatesmartfee": noSmartFee, "estimatefee": ok(`{"feerate":1}`)}, wantErr: true},
			{name: "btcd down", answers: map[string]answer{"estimatesmartfee": noSmartFee, "estimatefee": rpcErr(-28, "Loading")}, wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, tc.answers)
				rate, ok, err := c.FeeRate(ctx, 6)
				if (err != nil) != tc.wantErr || ok != tc.wantOK || rate != tc.want {
					t.Fatalf("FeeRate = %v, %v, %v; want %v, %v, error %v", rate, ok, err, tc.want, tc.wantOK, tc.wantErr)
				}
			})
		}
		// btcd is found out once, and asked for at most 25 blocks.
		c, s := standInChain(t, map[string]answer{
			"estimatesmartfee": noSmartFee, "estimatefee [25]": ok(`0.0001`), "estimatefee": rpcErr(-8, "wrong target")})
		for range 3 {
			if rate, ok, err := c.FeeRate(ctx, 144); err != nil || !ok || rate != 10 {
				t.Fatalf("FeeRate(144) on btcd = %v, %v, %v; want 10 sat/vB from estimatefee 25", rate, ok, err)
			}
		}
		if s.calls["estimatesmartfee"] != 1 {
			t.Fatalf("estimatesmartfee asked %d times; want once", s.calls["estimatesmartfee"])
		}
	})

	t.Run("SendRawTransaction", func(t *testing.T) {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 1}, nil, nil))
		tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
		txid := tx.TxHash().String()
		tests := []struct {
			name        string
			answer      answer
			wantCode    payout.BroadcastCode
			wantBE      bool // a *BroadcastError
			wantErr     bool
			wantAlready bool
		}{
			{name: "taken", answer: ok(quote(txid))},
			{name: "another txid", answer: ok(quote(hashA)), wantErr: true},
			{name: "not a txid", answer: ok(`true`), wantErr: true},
			{name: "btcd in mempool", answer: rpcErr(-26, "TX rejected: already have transaction in mempool "+txid),
				wantCode: payout.BroadcastInMempool, wantBE: true, wantErr: true, wantAlready: true},
			{name: "core in mempool (older wording)", answer: rpcErr(-26, "txn-already-in-mempool"),
				wantCode: payout.BroadcastInMempool, wantBE: true, wantErr: true, wantAlready: true},
			{name: "core in chain", answer: rpcErr(-27, "Transaction outputs already in utxo set"),
				wantCode: payout.BroadcastInChain, wantBE: true, wantErr: true, wantAlready: true},
			{name: "btcd in chain", answer: rpcErr(-27, "TX rejected: transaction already exists in blockchain"),
				wantCode: payout.BroadcastInChain, wantBE: true, wantErr: true, wantAlready: true},
			{name: "core inputs spent", answer: rpcErr(-25, "bad-txns-inputs-missingorspent"),
				wantCode: payout.BroadcastInputsMissing, wantBE: true, wantErr: true},
			{name: "btcd orphan", answer: rpcErr(-25, "TX rejected: orphan transaction "+txid+" references outputs of unknown or fully-spent transaction "+hashA),
				wantCode: payout.BroadcastInputsMissing, wantBE: true, wantErr: true},
			{name: "core conflict", answer: rpcErr(-26, "txn-mempool-conflict"),
				wantCode: payout.BroadcastConflict, wantBE: true, wantErr: true},
			{name: "core replacement refused", answer: rpcErr(-26, "insufficient fee, rejecting replacement "+txid),
				wantCode: payout.BroadcastConflict, wantBE: true, wantErr: true},
			{name: "btcd double spend", answer: rpcErr(-26, "TX rejected: output already spent in mempool: output="+hashA+":0"),
				wantCode: payout.BroadcastConflict, wantBE: true, wantErr: true},
			{name: "core immature", answer: rpcErr(-26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99"),
				wantCode: payout.BroadcastImmature, wantBE: true, wantErr: true},
			{name: "core fee too low", answer: rpcErr(-26, "min relay fee not met, 0 < 110"),
				wantCode: payout.BroadcastRejected, wantBE: true, wantErr: true},
			{name: "core max fee", answer: rpcErr(-25, "Fee exceeds maximum configured by user (maxfeerate)"),
				wantCode: payout.BroadcastRejected, wantBE: true, wantErr: true},
			{name: "decode failed", answer: rpcErr(-22, "TX decode failed"),
				wantCode: payout.BroadcastRejected, wantBE: true, wantErr: true},
			{name: "warming up is no verdict", answer: rpcErr(-28, "Loading block index..."), wantErr: true},
			{name: "btcd internal error is no verdict", answer: rpcErr(-32603, "transaction is not in accepted list"), wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, map[string]answer{"sendrawtransaction": tc.answer})
				got, err := c.SendRawTransaction(ctx, tx)
				var be *payout.BroadcastError
				isBE := errors.As(err, &be)
				if got != txid || (err != nil) != tc.wantErr || isBE != tc.wantBE || payout.AlreadyKnown(err) != tc.wantAlready {
					t.Fatalf("SendRawTransaction = %s, %v; want %s, error %v, broadcast error %v, already known %v",
						got, err, txid, tc.wantErr, tc.wantBE, tc.wantAlready)
				}
				if isBE && (be.Code != tc.wantCode || be.Txid != txid || be.RPCCode != tc.answer.code || be.Message != tc.answer.msg || be.Node != "stand-in") {
					t.Fatalf("BroadcastError = %+v; want code %s for %s with the node's words", be, tc.wantCode, txid)
				}
			})
		}
		c, _ := standInChain(t, nil)
		if _, err := c.SendRawTransaction(ctx, nil); err == nil {
			t.Fatal("SendRawTransaction(nil) succeeded")
		}
	})

	t.Run("TxStatus", func(t *testing.T) {
		tip := ok(`{"blocks":2,"bestblockhash":"` + hashB + `"}`)
		block := func(hash string, height, conf int64, txids ...string) answer {
			list, _ := json.Marshal(txids)
			return ok(fmt.Sprintf(`{"hash":%q,"height":%d,"confirmations":%d,"tx":%s}`, hash, height, conf, list))
		}
		hashC := strings.Repeat("c3", 32)
		chainOf2 := map[string]answer{
			"getblockchaininfo": tip,
			"getblockhash [1]":  ok(quote(hashA)), "getblockhash [2]": ok(quote(hashB)),
			`getblock ["` + hashA + `",1]`: block(hashA, 1, 2, hashA),
			`getblock ["` + hashB + `",1]`: block(hashB, 2, 1, hashB, hashC),
		}
		with := func(m map[string]answer, more ...any) map[string]answer {
			out := map[string]answer{}
			for k, v := range m {
				out[k] = v
			}
			for i := 0; i+1 < len(more); i += 2 {
				out[more[i].(string)] = more[i+1].(answer)
			}
			return out
		}
		notInMempool := rpcErr(-5, "Transaction not in mempool")
		unimplemented := rpcErr(-1, "Command unimplemented")
		tests := []struct {
			name      string
			answers   map[string]answer
			want      payout.TxStatus
			wantFound bool
			wantErr   bool
		}{
			{name: "core mempool", answers: with(chainOf2, "getmempoolentry", ok(`{"vsize":110,"fees":{"base":0.00001}}`)),
				want: payout.TxStatus{InMempool: true}, wantFound: true},
			{name: "core in a block", answers: with(chainOf2, "getmempoolentry", notInMempool),
				want: payout.TxStatus{BlockHash: hashB, Height: 2, Confirmations: 1}, wantFound: true},
			{name: "btcd mempool", answers: with(chainOf2, "getmempoolentry", unimplemented, "getrawmempool", ok(`["`+hashC+`"]`)),
				want: payout.TxStatus{InMempool: true}, wantFound: true},
			{name: "btcd in a block", answers: with(chainOf2, "getmempoolentry", unimplemented, "getrawmempool", ok(`[]`)),
				want: payout.TxStatus{BlockHash: hashB, Height: 2, Confirmations: 1}, wantFound: true},
			{name: "nowhere", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashB+`",1]`, block(hashB, 2, 1, hashB))},
			{name: "mempool entry not an object", answers: with(chainOf2, "getmempoolentry", ok(`true`)), wantErr: true},
			{name: "mempool list garbage", answers: with(chainOf2, "getmempoolentry", unimplemented, "getrawmempool", ok(`["xyz"]`)), wantErr: true},
			{name: "mempool call fails", answers: with(chainOf2, "getmempoolentry", rpcErr(-28, "Loading")), wantErr: true},
			{name: "block without tx list", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashA+`",1]`, ok(`{"hash":"`+hashA+`","height":1,"confirmations":2}`)), wantErr: true},
			{name: "block answer for another block", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashA+`",1]`, block(hashB, 1, 2, hashA)), wantErr: true},
			{name: "block left the main chain during the scan", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashA+`",1]`, block(hashA, 1, -1, hashA)), wantErr: true},
			{name: "block at another height", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashA+`",1]`, block(hashA, 7, 2, hashA)), wantErr: true},
			{name: "txid garbage in a block", answers: with(chainOf2, "getmempoolentry", notInMempool,
				`getblock ["`+hashA+`",1]`, block(hashA, 1, 2, "nope")), wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, tc.answers)
				st, found, err := c.TxStatus(ctx, hashC, 1)
				if (err != nil) != tc.wantErr || found != tc.wantFound || st != tc.want {
					t.Fatalf("TxStatus = %+v, %v, %v; want %+v, found %v, error %v", st, found, err, tc.want, tc.wantFound, tc.wantErr)
				}
			})
		}
		c, s := standInChain(t, with(chainOf2, "getmempoolentry", unimplemented, "getrawmempool", ok(`[]`)))
		for range 2 {
			if _, _, err := c.TxStatus(ctx, hashC, 1); err != nil {
				t.Fatal(err)
			}
		}
		if s.calls["getmempoolentry"] != 1 || s.calls["getrawmempool"] != 2 {
			t.Fatalf("calls %v; want getmempoolentry once (btcd found out), getrawmempool twice", s.calls)
		}
		if _, _, err := c.TxStatus(ctx, hashC, -1); err == nil {
			t.Fatal("TxStatus from height -1 succeeded")
		}
		if _, _, err := c.TxStatus(ctx, "xyz", 0); err == nil {
			t.Fatal("TxStatus(xyz) succeeded")
		}
	})

	t.Run("OutputUnspent", func(t *testing.T) {
		tests := []struct {
			name    string
			answer  answer
			want    bool
			wantErr bool
		}{
			{name: "unspent", answer: ok(`{"bestblock":"` + hashA + `","confirmations":3,"value":50.0,"coinbase":true}`), want: true},
			{name: "spent or unknown (null)", answer: ok(`null`)},
			{name: "btcd unknown transaction", answer: rpcErr(-5, "No information available about transaction "+hashA)},
			{name: "no value", answer: ok(`{"confirmations":3}`), wantErr: true},
			{name: "value not a number", answer: ok(`{"value":"fifty"}`), wantErr: true},
			{name: "true", answer: ok(`true`), wantErr: true},
			{name: "btcd no such vout of a mempool transaction", answer: rpcErr(-5, "Output index number (vout) does not exist for transaction.")},
			{name: "syncing", answer: rpcErr(-10, "Bitcoin is downloading blocks..."), wantErr: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := standInChain(t, map[string]answer{"gettxout": tc.answer})
				got, err := c.OutputUnspent(ctx, hashA, 0)
				if (err != nil) != tc.wantErr || got != tc.want {
					t.Fatalf("OutputUnspent = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
				}
			})
		}
	})
}
