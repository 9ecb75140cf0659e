package pool

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/tarbela-pool/tarbela/share"
)

// Payout modes.
const (
	// ModePool pays the whole coinbase to the pool's address; miners are
	// paid later from the pool's accounting.
	ModePool = "pool"
	// ModeSolo pays the coinbase to the authorized miner's own address,
	// less an optional pool fee output.
	ModeSolo = "solo"
)

// BuilderOptions configures a JobBuilder.
type BuilderOptions struct {
	Network *chaincfg.Params
	// Mode is ModePool or ModeSolo.
	Mode string
	// PoolAddress receives the coinbase in pool mode and the fee in solo
	// mode (optional in solo mode when FeePercent is 0).
	PoolAddress string
	// FeePercent is the pool fee in solo mode, 0..100.
	FeePercent float64
	// Tag is the pool tag written into every coinbase scriptSig.
	Tag string
	// Extranonce2Size is the miner's extranonce2 length in bytes.
	Extranonce2Size int
}

// JobBuilder turns templates into Work. It is safe for concurrent use.
type JobBuilder struct {
	o          BuilderOptions
	poolScript []byte
	seq        atomic.Uint64
	// scripts caches payout scripts of solo accounts (address -> script).
	scripts sync.Map
}

// maxHeightPush is the longest BIP34 height push (heights below 2^31).
const maxHeightPush = 5

// NewJobBuilder validates the options: the mode, the addresses for the
// network, and that the coinbase scriptSig fits 2..100 bytes at any height.
func NewJobBuilder(o BuilderOptions) (*JobBuilder, error) {
	var errs []error
	if o.Network == nil {
		errs = append(errs, errors.New("pool: network is required"))
	}
	if o.Mode != ModePool && o.Mode != ModeSolo {
		errs = append(errs, fmt.Errorf("pool: mode %q: want %q or %q", o.Mode, ModePool, ModeSolo))
	}
	if o.FeePercent < 0 || o.FeePercent > 100 {
		errs = append(errs, fmt.Errorf("pool: fee percent %v: want 0..100", o.FeePercent))
	}
	if o.Extranonce2Size < 1 || o.Extranonce2Size > 32 {
		errs = append(errs, fmt.Errorf("pool: extranonce2 size %d: want 1..32", o.Extranonce2Size))
	}
	b := &JobBuilder{o: o}
	if o.Network != nil && o.PoolAddress != "" {
		s, err := PayoutScript(o.PoolAddress, o.Network)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool: payout address: %w", err))
		}
		b.poolScript = s
	}
	if o.PoolAddress == "" && (o.Mode == ModePool || o.FeePercent > 0) {
		errs = append(errs, errors.New("pool: payout address is required in pool mode and for a solo pool fee"))
	}
	if len(o.Tag) > 75 {
		errs = append(errs, fmt.Errorf("pool: coinbase tag is %d bytes; at most 75 fit one push", len(o.Tag)))
	}
	if n := maxHeightPush + 1 + share.Extranonce1Size + o.Extranonce2Size + 1 + len(o.Tag); n > maxScriptSig {
		errs = append(errs, fmt.Errorf("pool: coinbase scriptSig could reach %d bytes (tag %d bytes, extranonce2 %d bytes); shorten the tag or extranonce2 to fit %d",
			n, len(o.Tag), o.Extranonce2Size, maxScriptSig))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// Mode returns the payout mode.
func (b *JobBuilder) Mode() string { return b.o.Mode }

// Network returns the chain parameters jobs are built for.
func (b *JobBuilder) Network() *chaincfg.Params { return b.o.Network }

// Work is one template's jobs; it implements share.Work. Jobs are built on
// first use per payout account and then shared.
type Work struct {
	b      *JobBuilder
	t      *Template
	id     string
	clean  bool
	branch [][32]byte
	net    share.Target
	// poolJob is the job in pool mode (every account mines it).
	poolJob *share.Job
	// solo caches solo-mode jobs by account.
	solo sync.Map
}

// NewWork builds the Work for a template. clean says miners must drop older
// jobs (the template is on a new tip).
func (b *JobBuilder) NewWork(t *Template, clean bool) (*Work, error) {
	net, err := share.TargetFromBits(t.Bits)
	if err != nil {
		return nil, fmt.Errorf("template at height %d: %w", t.Height, err)
	}
	txids := make([][32]byte, len(t.Txs))
	for i := range t.Txs {
		txids[i] = t.Txs[i].TxID
	}
	w := &Work{b: b, t: t, clean: clean, branch: MerkleBranch(txids), net: net,
		id: strconv.FormatUint(b.seq.Add(1), 16)}
	if b.o.Mode == ModePool {
		if w.poolJob, err = w.build("", b.poolScript, 0); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Template returns the template the work was built from.
func (w *Work) Template() *Template { return w.t }

// ID is the work's job id, unique per builder.
func (w *Work) ID() string { return w.id }

// Clean implements share.Work.
func (w *Work) Clean() bool { return w.clean }

// Height implements share.Work.
func (w *Work) Height() int64 { return w.t.Height }

// JobFor implements share.Work: in pool mode the shared job; in solo mode a
// job whose coinbase pays account (an address of the network), less the
// pool fee.
func (w *Work) JobFor(account string) (*share.Job, error) {
	if w.poolJob != nil {
		return w.poolJob, nil
	}
	if j, ok := w.solo.Load(account); ok {
		return j.(*share.Job), nil
	}
	script, err := w.b.accountScript(account)
	if err != nil {
		return nil, err
	}
	var fee int64
	if w.b.o.FeePercent > 0 {
		fee = int64(float64(w.t.CoinbaseValue) * w.b.o.FeePercent / 100)
	}
	j, err := w.build(account, script, fee)
	if err != nil {
		return nil, err
	}
	actual, _ := w.solo.LoadOrStore(account, j)
	return actual.(*share.Job), nil
}

// accountScript returns the payout script for a solo account, cached.
func (b *JobBuilder) accountScript(account string) ([]byte, error) {
	if s, ok := b.scripts.Load(account); ok {
		return s.([]byte), nil
	}
	if account == "" {
		if b.poolScript == nil {
			return nil, errors.New("solo mode needs an authorized miner address")
		}
		return b.poolScript, nil
	}
	s, err := PayoutScript(account, b.o.Network)
	if err != nil {
		return nil, err
	}
	b.scripts.Store(account, s)
	return s, nil
}

// build makes the job paying script (and fee to the pool's address).
func (w *Work) build(account string, script []byte, fee int64) (*share.Job, error) {
	t := w.t
	outs := []TxOut{{Value: t.CoinbaseValue - fee, Script: script}}
	payout := account
	if account == "" {
		payout = w.b.o.PoolAddress
	}
	if fee > 0 {
		outs = append(outs, TxOut{Value: fee, Script: w.b.poolScript})
	}
	if t.WitnessCommitment != nil {
		outs = append(outs, TxOut{Value: 0, Script: t.WitnessCommitment})
	}
	cb1, cb2, err := coinbaseParts(t.Height, []byte(w.b.o.Tag), share.Extranonce1Size+w.b.o.Extranonce2Size, outs)
	if err != nil {
		return nil, fmt.Errorf("template at height %d: %w", t.Height, err)
	}
	txs := make([][]byte, len(t.Txs))
	for i := range t.Txs {
		txs[i] = t.Txs[i].Data
	}
	return &share.Job{
		ID: w.id, Height: t.Height, PrevHash: t.PrevHash, Version: t.Version, Bits: t.Bits,
		CurTime: t.CurTime, MinTime: t.MinTime, Coinb1: cb1, Coinb2: cb2,
		Extranonce2Size: w.b.o.Extranonce2Size, Branch: w.branch, NetTarget: w.net, Clean: w.clean,
		Payout: payout, CoinbaseValue: t.CoinbaseValue, Txs: txs,
		Witness: t.WitnessCommitment != nil,
	}, nil
}
