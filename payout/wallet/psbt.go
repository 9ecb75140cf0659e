package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// This file reads and writes the part of BIP 174 (PSBT version 0) the cold
// mode needs. Every key-value pair is kept as it was read, in order, so a
// packet writes back to the same bytes; the types below are checked as
// BIP 174 defines them, every other type is carried along unread.

// ErrNotPSBT: the bytes are not a PSBT (BIP 174), or break its rules.
var ErrNotPSBT = errors.New("not a valid PSBT")

// psbtMagic starts every PSBT: "psbt" and the separator 0xff.
var psbtMagic = []byte{'p', 's', 'b', 't', 0xff}

// maxPSBTSize bounds the PSBT FinalizePSBT reads. A standard transaction is
// at most 100 kB and the cold mode adds one output per input, so a larger
// file is not a batch.
const maxPSBTSize = 16 << 20

// Key types of BIP 174 version 0.
const (
	globalUnsignedTx = 0x00
	globalXpub       = 0x01
	globalVersion    = 0xfb

	inNonWitnessUTXO = 0x00
	inWitnessUTXO    = 0x01
	inPartialSig     = 0x02
	inSighashType    = 0x03
	inRedeemScript   = 0x04
	inWitnessScript  = 0x05
	inBIP32          = 0x06
	inFinalScriptSig = 0x07
	inFinalWitness   = 0x08
	inPORCommitment  = 0x09
	inRIPEMD160      = 0x0a
	inSHA256         = 0x0b
	inHASH160        = 0x0c
	inHASH256        = 0x0d

	outRedeemScript  = 0x00
	outWitnessScript = 0x01
	outBIP32         = 0x02
)

// pair is one key-value record; key starts with its type.
type pair struct {
	key, value []byte
}

// packet is a parsed PSBT.
type packet struct {
	tx      *wire.MsgTx // the global unsigned transaction
	global  []pair
	inputs  [][]pair
	outputs [][]pair
}

// psbtInput is what an input map says, for the types the cold mode reads.
type psbtInput struct {
	witnessUTXO  *wire.TxOut
	partialSigs  []partialSig
	sighashType  *uint32
	finalSig     []byte
	finalWitness wire.TxWitness
	hasFinalSig  bool
	hasWitness   bool
}

type partialSig struct {
	pubKey, sig []byte
}

// decodePSBT accepts a PSBT in binary or in base64 (how Bitcoin Core's RPCs
// and most wallets pass it), with white space around the base64.
func decodePSBT(b []byte) (*packet, error) {
	if len(b) > maxPSBTSize*4/3+1024 {
		return nil, fmt.Errorf("%w: %d bytes, more than a batch can need", ErrNotPSBT, len(b))
	}
	if !bytes.HasPrefix(b, psbtMagic) {
		text := bytes.TrimSpace(b)
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		n, err := base64.StdEncoding.Decode(raw, text)
		if err != nil || !bytes.HasPrefix(raw[:n], psbtMagic) {
			return nil, fmt.Errorf("%w: want the binary format (starting with \"psbt\" 0xff) or its base64 (starting with cHNidP8)", ErrNotPSBT)
		}
		b = raw[:n]
	}
	p, err := parsePSBT(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPSBT, err)
	}
	return p, nil
}

// parsePSBT reads a binary PSBT.
func parsePSBT(b []byte) (*packet, error) {
	if len(b) > maxPSBTSize {
		return nil, fmt.Errorf("%d bytes, more than the %d a batch can need", len(b), maxPSBTSize)
	}
	if !bytes.HasPrefix(b, psbtMagic) {
		return nil, errors.New("no PSBT magic")
	}
	r := &reader{b: b[len(psbtMagic):]}
	p := &packet{}
	var err error
	if p.global, err = readMap(r); err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	for _, kv := range p.global {
		typ, _ := keyType(kv.key)
		switch typ {
		case globalUnsignedTx:
			if len(kv.key) != 1 {
				return nil, errors.New("global unsigned transaction: key has data")
			}
			if p.tx, err = readUnsignedTx(kv.value); err != nil {
				return nil, fmt.Errorf("global unsigned transaction: %w", err)
			}
		case globalXpub:
			if len(kv.key) != 1+78 {
				return nil, fmt.Errorf("global xpub: key of %d bytes, want 79", len(kv.key))
			}
			if err := checkDerivation(kv.value); err != nil {
				return nil, fmt.Errorf("global xpub: %w", err)
			}
		case globalVersion:
			if len(kv.key) != 1 || len(kv.value) != 4 {
				return nil, errors.New("global version: want a 1-byte key and a 4-byte value")
			}
			if v := binary.LittleEndian.Uint32(kv.value); v != 0 {
				return nil, fmt.Errorf("PSBT version %d: only version 0 is supported", v)
			}
		}
	}
	if p.tx == nil {
		return nil, errors.New("no global unsigned transaction")
	}
	p.inputs = make([][]pair, len(p.tx.TxIn))
	for i := range p.inputs {
		if p.inputs[i], err = readMap(r); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		if _, err := readInput(p.inputs[i]); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
	}
	p.outputs = make([][]pair, len(p.tx.TxOut))
	for i := range p.outputs {
		if p.outputs[i], err = readMap(r); err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		if err := checkOutput(p.outputs[i]); err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%d bytes after the last output map", r.left())
	}
	return p, nil
}

// readMap reads key-value pairs up to the 0x00 separator. Keys are unique
// within a map.
func readMap(r *reader) ([]pair, error) {
	var m []pair
	seen := make(map[string]bool)
	for {
		kl, err := r.compactSize()
		if err != nil {
			return nil, fmt.Errorf("key length: %w", err)
		}
		if kl == 0 {
			return m, nil
		}
		key, err := r.bytes(kl)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if _, err := keyType(key); err != nil {
			return nil, err
		}
		vl, err := r.compactSize()
		if err != nil {
			return nil, fmt.Errorf("value length: %w", err)
		}
		value, err := r.bytes(vl)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if seen[string(key)] {
			return nil, fmt.Errorf("duplicate key %x", key)
		}
		seen[string(key)] = true
		m = append(m, pair{key: key, value: value})
	}
}

// keyType reads the type at the start of a key (a compact size).
func keyType(key []byte) (uint64, error) {
	r := &reader{b: key}
	t, err := r.compactSize()
	if err != nil {
		return 0, fmt.Errorf("key type: %w", err)
	}
	return t, nil
}

// readInput checks an input map and returns what the cold mode reads of it.
func readInput(m []pair) (*psbtInput, error) {
	in := &psbtInput{}
	for _, kv := range m {
		typ, _ := keyType(kv.key)
		keyData := kv.key[1:]
		switch typ {
		case inNonWitnessUTXO, inWitnessUTXO, inSighashType, inRedeemScript, inWitnessScript,
			inFinalScriptSig, inFinalWitness, inPORCommitment:
			if len(keyData) != 0 {
				return nil, fmt.Errorf("key type 0x%02x takes no key data, got %d bytes", typ, len(keyData))
			}
		}
		switch typ {
		case inNonWitnessUTXO:
			// Carried along: the cold mode spends P2WPKH outputs, whose
			// amount the witness UTXO gives.
			if len(kv.value) == 0 {
				return nil, errors.New("empty non-witness UTXO")
			}
		case inWitnessUTXO:
			r := &reader{b: kv.value}
			out, err := r.txOut()
			if err == nil && r.left() != 0 {
				err = fmt.Errorf("%d bytes after the output", r.left())
			}
			if err != nil {
				return nil, fmt.Errorf("witness UTXO: %w", err)
			}
			in.witnessUTXO = out
		case inPartialSig:
			if err := checkPubKey(keyData); err != nil {
				return nil, fmt.Errorf("partial signature: %w", err)
			}
			if len(kv.value) == 0 {
				return nil, errors.New("partial signature: empty")
			}
			in.partialSigs = append(in.partialSigs, partialSig{pubKey: keyData, sig: kv.value})
		case inSighashType:
			if len(kv.value) != 4 {
				return nil, fmt.Errorf("sighash type: %d bytes, want 4", len(kv.value))
			}
			v := binary.LittleEndian.Uint32(kv.value)
			in.sighashType = &v
		case inBIP32:
			if err := checkPubKey(keyData); err != nil {
				return nil, fmt.Errorf("BIP 32 derivation: %w", err)
			}
			if err := checkDerivation(kv.value); err != nil {
				return nil, fmt.Errorf("BIP 32 derivation: %w", err)
			}
		case inFinalScriptSig:
			in.finalSig, in.hasFinalSig = kv.value, true
		case inFinalWitness:
			r := &reader{b: kv.value}
			w, err := r.witness()
			if err == nil && r.left() != 0 {
				err = fmt.Errorf("%d bytes after the witness", r.left())
			}
			if err != nil {
				return nil, fmt.Errorf("final script witness: %w", err)
			}
			in.finalWitness, in.hasWitness = w, true
		case inRIPEMD160, inHASH160:
			if len(keyData) != 20 {
				return nil, fmt.Errorf("key type 0x%02x: %d bytes of hash, want 20", typ, len(keyData))
			}
		case inSHA256, inHASH256:
			if len(keyData) != 32 {
				return nil, fmt.Errorf("key type 0x%02x: %d bytes of hash, want 32", typ, len(keyData))
			}
		}
	}
	return in, nil
}

// checkOutput checks the types of an output map that BIP 174 defines.
func checkOutput(m []pair) error {
	for _, kv := range m {
		typ, _ := keyType(kv.key)
		switch typ {
		case outRedeemScript, outWitnessScript:
			if len(kv.key) != 1 {
				return fmt.Errorf("key type 0x%02x takes no key data, got %d bytes", typ, len(kv.key)-1)
			}
		case outBIP32:
			if err := checkPubKey(kv.key[1:]); err != nil {
				return fmt.Errorf("BIP 32 derivation: %w", err)
			}
			if err := checkDerivation(kv.value); err != nil {
				return fmt.Errorf("BIP 32 derivation: %w", err)
			}
		}
	}
	return nil
}

// checkPubKey checks a public key in a key's data: 33 or 65 bytes, on the
// curve.
func checkPubKey(b []byte) error {
	if len(b) != 33 && len(b) != 65 {
		return fmt.Errorf("public key of %d bytes, want 33 or 65", len(b))
	}
	if _, err := btcec.ParsePubKey(b); err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	return nil
}

// checkDerivation checks a key origin: a 4-byte fingerprint and 4-byte path
// elements.
func checkDerivation(v []byte) error {
	if len(v) < 4 || len(v)%4 != 0 {
		return fmt.Errorf("key origin of %d bytes, want a fingerprint and path elements of 4 bytes", len(v))
	}
	return nil
}

// readUnsignedTx reads the global transaction: non-witness serialization,
// every scriptSig empty, nothing after it.
func readUnsignedTx(b []byte) (*wire.MsgTx, error) {
	r := &reader{b: b}
	tx := &wire.MsgTx{}
	v, err := r.uint32()
	if err != nil {
		return nil, err
	}
	tx.Version = int32(v)
	nIn, err := r.count(36 + 1 + 4)
	if err != nil {
		return nil, fmt.Errorf("input count: %w", err)
	}
	tx.TxIn = make([]*wire.TxIn, nIn)
	for i := range tx.TxIn {
		in := &wire.TxIn{}
		hash, err := r.bytes(chainhash.HashSize)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		copy(in.PreviousOutPoint.Hash[:], hash)
		if in.PreviousOutPoint.Index, err = r.uint32(); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		n, err := r.compactSize()
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		if n != 0 {
			return nil, fmt.Errorf("input %d has a scriptSig: an unsigned transaction has none", i)
		}
		if in.Sequence, err = r.uint32(); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		tx.TxIn[i] = in
	}
	nOut, err := r.count(8 + 1)
	if err != nil {
		return nil, fmt.Errorf("output count: %w", err)
	}
	tx.TxOut = make([]*wire.TxOut, nOut)
	for i := range tx.TxOut {
		if tx.TxOut[i], err = r.txOut(); err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
	}
	if tx.LockTime, err = r.uint32(); err != nil {
		return nil, fmt.Errorf("lock time: %w", err)
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%d bytes after the transaction (a witness serialization?)", r.left())
	}
	return tx, nil
}

// encode writes the packet in binary.
func (p *packet) encode() []byte {
	var buf bytes.Buffer
	buf.Write(psbtMagic)
	writeMap(&buf, p.global)
	for _, m := range p.inputs {
		writeMap(&buf, m)
	}
	for _, m := range p.outputs {
		writeMap(&buf, m)
	}
	return buf.Bytes()
}

func writeMap(buf *bytes.Buffer, m []pair) {
	for _, kv := range m {
		writeBytes(buf, kv.key)
		writeBytes(buf, kv.value)
	}
	buf.WriteByte(0)
}

// writeBytes writes b with its compact size length.
func writeBytes(buf *bytes.Buffer, b []byte) {
	_ = wire.WriteVarInt(buf, 0, uint64(len(b)))
	buf.Write(b)
}

// reader reads PSBT fields from a byte slice, never past its end: every
// length and count is checked against what is left before anything is
// allocated for it.
type reader struct {
	b   []byte
	off int
}

var errShort = errors.New("unexpected end of data")

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) bytes(n uint64) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, errShort
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

func (r *reader) uint32() (uint32, error) {
	b, err := r.bytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// compactSize reads a compact size unsigned integer, which must be
// minimally encoded.
func (r *reader) compactSize() (uint64, error) {
	b, err := r.bytes(1)
	if err != nil {
		return 0, err
	}
	var v, min uint64
	switch b[0] {
	case 0xfd:
		x, err := r.bytes(2)
		if err != nil {
			return 0, err
		}
		v, min = uint64(binary.LittleEndian.Uint16(x)), 0xfd
	case 0xfe:
		x, err := r.bytes(4)
		if err != nil {
			return 0, err
		}
		v, min = uint64(binary.LittleEndian.Uint32(x)), 0x10000
	case 0xff:
		x, err := r.bytes(8)
		if err != nil {
			return 0, err
		}
		v, min = binary.LittleEndian.Uint64(x), 0x100000000
	default:
		return uint64(b[0]), nil
	}
	if v < min {
		return 0, fmt.Errorf("compact size %d not minimally encoded", v)
	}
	return v, nil
}

// count reads a number of items of at least minSize bytes each and checks
// that they can fit in what is left.
func (r *reader) count(minSize int) (int, error) {
	n, err := r.compactSize()
	if err != nil {
		return 0, err
	}
	if n > uint64(r.left()/minSize) {
		return 0, fmt.Errorf("%d items cannot fit in the %d bytes left", n, r.left())
	}
	return int(n), nil
}

func (r *reader) txOut() (*wire.TxOut, error) {
	v, err := r.bytes(8)
	if err != nil {
		return nil, err
	}
	n, err := r.compactSize()
	if err != nil {
		return nil, err
	}
	script, err := r.bytes(n)
	if err != nil {
		return nil, err
	}
	return wire.NewTxOut(int64(binary.LittleEndian.Uint64(v)), script), nil
}

// witness reads a script witness: a count of items, each with its length.
func (r *reader) witness() (wire.TxWitness, error) {
	n, err := r.count(1)
	if err != nil {
		return nil, err
	}
	w := make(wire.TxWitness, n)
	for i := range w {
		l, err := r.compactSize()
		if err != nil {
			return nil, err
		}
		if w[i], err = r.bytes(l); err != nil {
			return nil, err
		}
	}
	return w, nil
}
