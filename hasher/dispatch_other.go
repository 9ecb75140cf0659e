//go:build !amd64 || purego

package hasher

// Without amd64 assembly only the pure Go kernels exist; the stubs below
// keep the dispatch code in one place and are never called.

const (
	hasSHANI = false
	hasAVX2  = false
)

func shaniHeader(out *[32]byte, header *[80]byte)                  { panic("hasher: no SHA-NI") }
func shaniHeader2(out *[2][32]byte, h0, h1 *[80]byte)              { panic("hasher: no SHA-NI") }
func shaniMerkle(acc *[32]byte, branch *[32]byte, n int)           { panic("hasher: no SHA-NI") }
func shaniBlocks(h *[8]uint32, p *byte, n int)                     { panic("hasher: no SHA-NI") }
func shaniBlocksOuter(out *[32]byte, h *[8]uint32, p *byte, n int) { panic("hasher: no SHA-NI") }
func shaniScan1(j *scanJob, start, count uint32) uint32            { panic("hasher: no SHA-NI") }
func shaniScan2(j *scanJob, start, count uint32) uint32            { panic("hasher: no SHA-NI") }
func avx2Scan8(j *avxScanJob, start, count uint32) uint32          { panic("hasher: no AVX2") }
func avx2Header8(j *avxBatchJob)                                   { panic("hasher: no AVX2") }
