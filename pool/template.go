package pool

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Template is a parsed getblocktemplate result, from Bitcoin Core or btcd.
type Template struct {
	Height int64
	// PrevHash is the previous block hash in internal byte order.
	PrevHash      [32]byte
	Version       uint32
	Bits          uint32
	CurTime       uint32
	MinTime       uint32
	CoinbaseValue int64
	Txs           []TemplateTx
	// WitnessCommitment is the full commitment output script
	// (6a24aa21a9ed followed by 32 bytes), or nil when the block needs none.
	WitnessCommitment []byte
	LongPollID        string
}

// TemplateTx is one transaction of a template.
type TemplateTx struct {
	// Data is the serialized transaction as the node gave it (with witness).
	Data []byte
	// TxID and WTxID are in internal byte order.
	TxID  [32]byte
	WTxID [32]byte
	// HasWitness says the serialization carries witness data.
	HasWitness bool
}

// witnessCommitmentPrefix is OP_RETURN, a 36-byte push, and the BIP141
// commitment header aa21a9ed.
var witnessCommitmentPrefix = []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

type gbtTx struct {
	Data string `json:"data"`
	TxID string `json:"txid"`
	Hash string `json:"hash"`
}

type gbtResult struct {
	Height            *int64          `json:"height"`
	PreviousBlockHash string          `json:"previousblockhash"`
	Version           *int64          `json:"version"`
	Bits              string          `json:"bits"`
	CurTime           *int64          `json:"curtime"`
	MinTime           int64           `json:"mintime"`
	CoinbaseValue     *int64          `json:"coinbasevalue"`
	Transactions      []gbtTx         `json:"transactions"`
	DefaultWitness    string          `json:"default_witness_commitment"`
	LongPollID        string          `json:"longpollid"`
	Rules             json.RawMessage `json:"rules"`
}

// ParseTemplate parses a getblocktemplate result. It accepts Bitcoin Core's
// form (default_witness_commitment as a full script) and btcd's (the bare
// 32-byte commitment, present only when a transaction has a witness). Every
// missing or malformed field is an error naming it.
func ParseTemplate(raw []byte) (*Template, error) {
	var g gbtResult
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("getblocktemplate result: %w", err)
	}
	t := &Template{LongPollID: g.LongPollID}
	switch {
	case g.Height == nil || *g.Height < 0:
		return nil, fmt.Errorf("getblocktemplate result: height missing or negative")
	case g.Version == nil:
		return nil, fmt.Errorf("getblocktemplate result: version missing")
	case g.CurTime == nil || *g.CurTime <= 0:
		return nil, fmt.Errorf("getblocktemplate result: curtime missing")
	case g.CoinbaseValue == nil || *g.CoinbaseValue < 0:
		return nil, fmt.Errorf("getblocktemplate result: coinbasevalue missing (the node must not be asked for coinbasetxn)")
	}
	t.Height, t.Version, t.CurTime = *g.Height, uint32(*g.Version), uint32(*g.CurTime)
	t.MinTime, t.CoinbaseValue = uint32(g.MinTime), *g.CoinbaseValue
	var err error
	if t.PrevHash, err = parseDisplayHash(g.PreviousBlockHash); err != nil {
		return nil, fmt.Errorf("getblocktemplate result: previousblockhash: %w", err)
	}
	bits, err := strconv.ParseUint(g.Bits, 16, 32)
	if err != nil || len(g.Bits) != 8 {
		return nil, fmt.Errorf("getblocktemplate result: bits: want 8 hex digits, got %q", g.Bits)
	}
	t.Bits = uint32(bits)
	for i, tx := range g.Transactions {
		var tt TemplateTx
		if tt.Data, err = hex.DecodeString(tx.Data); err != nil || len(tt.Data) < 10 {
			return nil, fmt.Errorf("getblocktemplate result: transactions[%d].data: not a hex transaction", i)
		}
		if tt.TxID, err = parseDisplayHash(tx.TxID); err != nil {
			return nil, fmt.Errorf("getblocktemplate result: transactions[%d].txid: %w", i, err)
		}
		// A serialization with the segwit marker (0x00) and flag (0x01)
		// after the version carries a witness.
		tt.HasWitness = tt.Data[4] == 0 && tt.Data[5] == 1
		tt.WTxID = tt.TxID
		if tx.Hash != "" {
			if tt.WTxID, err = parseDisplayHash(tx.Hash); err != nil {
				return nil, fmt.Errorf("getblocktemplate result: transactions[%d].hash: %w", i, err)
			}
		} else if tt.HasWitness {
			return nil, fmt.Errorf("getblocktemplate result: transactions[%d].hash: missing for a witness transaction", i)
		}
		t.Txs = append(t.Txs, tt)
	}
	if t.WitnessCommitment, err = parseWitnessCommitment(g.DefaultWitness); err != nil {
		return nil, fmt.Errorf("getblocktemplate result: default_witness_commitment: %w", err)
	}
	if t.WitnessCommitment == nil {
		for _, tx := range t.Txs {
			if tx.HasWitness {
				// The node sent witness transactions without a commitment:
				// compute it rather than build an invalid block.
				t.WitnessCommitment = WitnessCommitmentScript(t.Txs)
				break
			}
		}
	}
	return t, nil
}

// parseWitnessCommitment accepts a full commitment script (Core) or a bare
// 32-byte commitment hash (btcd) and returns the full script.
func parseWitnessCommitment(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex")
	}
	switch {
	case len(b) == 32:
		return append(append([]byte(nil), witnessCommitmentPrefix...), b...), nil
	case len(b) >= 38 && bytes.HasPrefix(b, witnessCommitmentPrefix):
		return b, nil
	}
	return nil, fmt.Errorf("want a 32-byte hash or a 6a24aa21a9ed script, got %d bytes", len(b))
}

// parseDisplayHash decodes a hash in display order into internal order.
func parseDisplayHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("want 64 hex digits, got %q", s)
	}
	for i := range 32 {
		h[i] = b[31-i]
	}
	return h, nil
}
