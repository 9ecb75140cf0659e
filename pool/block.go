package pool

import (
	"errors"
	"fmt"

	"github.com/tarbela-pool/tarbela/share"
)

// witnessReserved is the coinbase witness: one 32-byte item of zeros, the
// reserved value the template's commitment assumes.
var witnessReserved = append([]byte{1, 32}, make([]byte, 32)...)

// AssembleBlock serializes the full block for a solved share: header,
// transaction count, the coinbase (with its witness when the job carries a
// witness commitment) and the template's transactions.
func AssembleBlock(s *share.Solved) ([]byte, error) {
	cb := s.Coinbase
	if len(cb) < 10 {
		return nil, errors.New("assemble block: coinbase too short")
	}
	size := 80 + 9 + len(cb) + 2 + len(witnessReserved)
	for _, tx := range s.Job.Txs {
		size += len(tx)
	}
	b := make([]byte, 0, size)
	b = append(b, s.Header[:]...)
	b = appendVarInt(b, uint64(1+len(s.Job.Txs)))
	if s.Job.Witness {
		var err error
		if b, err = appendWitnessCoinbase(b, cb); err != nil {
			return nil, err
		}
	} else {
		b = append(b, cb...)
	}
	for _, tx := range s.Job.Txs {
		b = append(b, tx...)
	}
	return b, nil
}

// appendWitnessCoinbase rewrites a non-witness coinbase in the segwit
// serialization: marker and flag after the version, the reserved-value
// witness before the lock time.
func appendWitnessCoinbase(b, cb []byte) ([]byte, error) {
	if cb[4] == 0 {
		return nil, fmt.Errorf("assemble block: coinbase already has a segwit marker")
	}
	b = append(b, cb[:4]...)
	b = append(b, 0x00, 0x01)
	b = append(b, cb[4:len(cb)-4]...)
	b = append(b, witnessReserved...)
	return append(b, cb[len(cb)-4:]...), nil
}
