//go:build amd64 && !purego

package hasher

import "golang.org/x/sys/cpu"

//go:generate go run asm_gen.go asm_gen_avx2.go

// The SHA-NI kernels are written with VEX-encoded SSE instructions, so they
// need AVX (which x/sys/cpu reports only when the OS saves the registers)
// besides the SHA extensions. golang.org/x/sys/cpu has no SHA flag, so that
// one bit (CPUID leaf 7, EBX bit 29) is read directly, once.
var (
	hasSHANI = cpu.X86.HasAVX && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3 && cpuHasSHA()
	hasAVX2  = cpu.X86.HasAVX2
)

func cpuHasSHA() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<29) != 0
}

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

//go:noescape
func shaniHeader(out *[32]byte, header *[80]byte)

//go:noescape
func shaniHeader2(out *[2][32]byte, h0, h1 *[80]byte)

//go:noescape
func shaniMerkle(acc *[32]byte, branch *[32]byte, n int)

//go:noescape
func shaniBlocks(h *[8]uint32, p *byte, n int)

//go:noescape
func shaniBlocksOuter(out *[32]byte, h *[8]uint32, p *byte, n int)

//go:noescape
func shaniScan1(j *scanJob, start, count uint32) uint32

//go:noescape
func shaniScan2(j *scanJob, start, count uint32) uint32

//go:noescape
func avx2Scan8(j *avxScanJob, start, count uint32) uint32

//go:noescape
func avx2Header8(j *avxBatchJob)
