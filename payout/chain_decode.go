package payout

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/wire/v2"
)

// The decoders of the node's answers. Each takes the raw JSON result and
// returns an error, never panics, for anything that is not the answer the
// method documents: a node that answers nonsense is an error the run
// reports, not a crash.

// checkHash returns s in lower case when it is a 32-byte hash in hex (a
// block hash or a txid in display order).
func checkHash(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("%q is not a 64-digit hex hash", clip(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("%q is not a 64-digit hex hash", clip(s))
	}
	return strings.ToLower(s), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 100
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// unmarshal decodes raw into v, refusing a null result (json.Unmarshal
// leaves v as it was for null).
func unmarshal(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return errors.New("null result")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("result %q: %w", clip(string(raw)), err)
	}
	return nil
}

// decodeHash decodes a result that is one hash.
func decodeHash(raw []byte) (string, error) {
	var s string
	if err := unmarshal(raw, &s); err != nil {
		return "", err
	}
	return checkHash(s)
}

// decodeHashList decodes a result that is a list of hashes (getrawmempool).
func decodeHashList(raw []byte) ([]string, error) {
	var list []string
	if err := unmarshal(raw, &list); err != nil {
		return nil, err
	}
	for i, s := range list {
		h, err := checkHash(s)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		list[i] = h
	}
	return list, nil
}

// decodeObject checks that raw is a JSON object (getmempoolentry).
func decodeObject(raw []byte) error {
	var m map[string]json.RawMessage
	return unmarshal(raw, &m)
}

// decodeTip decodes getblockchaininfo's height and best block hash.
func decodeTip(raw []byte) (int64, string, error) {
	var v struct {
		Blocks *int64  `json:"blocks"`
		Best   *string `json:"bestblockhash"`
	}
	if err := unmarshal(raw, &v); err != nil {
		return 0, "", err
	}
	if v.Blocks == nil || v.Best == nil {
		return 0, "", fmt.Errorf("result %q lacks blocks or bestblockhash", clip(string(raw)))
	}
	if *v.Blocks < 0 {
		return 0, "", fmt.Errorf("negative height %d", *v.Blocks)
	}
	hash, err := checkHash(*v.Best)
	if err != nil {
		return 0, "", fmt.Errorf("bestblockhash: %w", err)
	}
	return *v.Blocks, hash, nil
}

// decodeHeaderInfo decodes a verbose getblockheader answer for the block
// want. Confirmations below 1 (Core: -1) mean off the main chain.
func decodeHeaderInfo(raw []byte, want string) (BlockInfo, error) {
	var v struct {
		Hash          *string `json:"hash"`
		Confirmations *int64  `json:"confirmations"`
		Height        *int64  `json:"height"`
	}
	if err := unmarshal(raw, &v); err != nil {
		return BlockInfo{}, err
	}
	if v.Hash == nil || v.Confirmations == nil || v.Height == nil {
		return BlockInfo{}, fmt.Errorf("result %q lacks hash, confirmations or height", clip(string(raw)))
	}
	if !strings.EqualFold(*v.Hash, want) {
		return BlockInfo{}, fmt.Errorf("answered for block %q, asked for %s", clip(*v.Hash), want)
	}
	if *v.Height < 0 {
		return BlockInfo{}, fmt.Errorf("negative height %d", *v.Height)
	}
	if *v.Confirmations < 1 {
		return BlockInfo{Height: *v.Height, Confirmations: -1}, nil
	}
	return BlockInfo{Height: *v.Height, Confirmations: *v.Confirmations, InMainChain: true}, nil
}

// decodeHex decodes a result that is a hex string.
func decodeHex(raw []byte) ([]byte, error) {
	var s string
	if err := unmarshal(raw, &s); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("result %q: %w", clip(s), err)
	}
	return b, nil
}

// decodeRawHeaderParent decodes a serialized header (getblockheader, not
// verbose) and returns its parent's hash.
func decodeRawHeaderParent(raw []byte) (string, error) {
	b, err := decodeHex(raw)
	if err != nil {
		return "", err
	}
	if len(b) != wire.MaxBlockHeaderPayload {
		return "", fmt.Errorf("header of %d bytes, want %d", len(b), wire.MaxBlockHeaderPayload)
	}
	var h wire.BlockHeader
	if err := h.Deserialize(bytes.NewReader(b)); err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	return h.PrevBlock.String(), nil
}

// decodeRawBlock decodes a serialized block (getblock, verbosity 0) and
// checks that it is the block want, with no bytes left over.
func decodeRawBlock(raw []byte, want string) (*wire.MsgBlock, error) {
	b, err := decodeHex(raw)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(b)
	var blk wire.MsgBlock
	if err := blk.Deserialize(r); err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("block: %d bytes after the block", r.Len())
	}
	if got := blk.BlockHash().String(); got != want {
		return nil, fmt.Errorf("answered block %s, asked for %s", got, want)
	}
	return &blk, nil
}

// blockTxids is the part of a getblock answer (verbosity 1) that TxStatus
// reads.
type blockTxids struct {
	height, confirmations int64
	txids                 []string
}

// decodeBlockTxids decodes getblock with verbosity 1 for the block want.
func decodeBlockTxids(raw []byte, want string) (blockTxids, error) {
	var v struct {
		Hash          *string  `json:"hash"`
		Height        *int64   `json:"height"`
		Confirmations *int64   `json:"confirmations"`
		Tx            []string `json:"tx"`
	}
	if err := unmarshal(raw, &v); err != nil {
		return blockTxids{}, err
	}
	if v.Hash == nil || v.Height == nil || v.Confirmations == nil || len(v.Tx) == 0 {
		return blockTxids{}, fmt.Errorf("result %q lacks hash, height, confirmations or tx", clip(string(raw)))
	}
	if !strings.EqualFold(*v.Hash, want) {
		return blockTxids{}, fmt.Errorf("answered for block %q, asked for %s", clip(*v.Hash), want)
	}
	for i, s := range v.Tx {
		h, err := checkHash(s)
		if err != nil {
			return blockTxids{}, fmt.Errorf("tx %d: %w", i, err)
		}
		v.Tx[i] = h
	}
	return blockTxids{height: *v.Height, confirmations: *v.Confirmations, txids: v.Tx}, nil
}

// decodeSmartFee decodes Core's estimatesmartfee answer: {"feerate": BTC
// per kvB, "blocks": n} or, without an estimate, {"errors": [...],
// "blocks": 0}.
func decodeSmartFee(raw []byte) (float64, bool, error) {
	var v struct {
		FeeRate *json.Number `json:"feerate"`
		Errors  []string     `json:"errors"`
	}
	if err := unmarshal(raw, &v); err != nil {
		return 0, false, err
	}
	if v.FeeRate == nil {
		return 0, false, nil
	}
	return satPerVByte(*v.FeeRate)
}

// decodeEstimateFee decodes btcd's estimatefee answer: a number of BTC per
// kB, -1 or 0 when it has no estimate.
func decodeEstimateFee(raw []byte) (float64, bool, error) {
	var n json.Number
	if err := unmarshal(raw, &n); err != nil {
		return 0, false, err
	}
	return satPerVByte(n)
}

// satPerVByte converts a fee rate in BTC per 1000 (virtual) bytes to
// satoshis per (virtual) byte, rounded to a whole satoshi per 1000 bytes:
// Core's rates are whole satoshis per kvB written in BTC, and float64
// arithmetic alone would turn 0.00001 into 1.0000000000000002. A rate that
// is not above zero is no estimate.
func satPerVByte(n json.Number) (float64, bool, error) {
	btcPerKB, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(btcPerKB, 0) || math.IsNaN(btcPerKB) {
		return 0, false, fmt.Errorf("fee rate %q is not a number", clip(string(n)))
	}
	// 21 million BTC per kB is more than any transaction can pay.
	if btcPerKB > 21e6 {
		return 0, false, fmt.Errorf("fee rate %v BTC/kB is beyond any transaction's fee", btcPerKB)
	}
	satPerKB := math.Round(btcPerKB * 1e8)
	if satPerKB <= 0 {
		return 0, false, nil
	}
	return satPerKB / 1000, true, nil
}

// decodeTxOut decodes gettxout: null for a spent or unknown output, else
// the output.
func decodeTxOut(raw []byte) (bool, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return false, nil
	}
	var v struct {
		Value *json.Number `json:"value"`
	}
	if err := unmarshal(raw, &v); err != nil {
		return false, err
	}
	if v.Value == nil {
		return false, fmt.Errorf("result %q lacks value", clip(string(raw)))
	}
	return true, nil
}
