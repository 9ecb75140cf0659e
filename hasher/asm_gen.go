//go:build ignore

// asm_gen.go writes sha_amd64.s: the SHA-NI and AVX2 kernels of package
// hasher. Run it with `go generate ./hasher` (see dispatch_amd64.go); the
// output is committed so that building needs no generator.
package main

import (
	"bytes"
	"fmt"
	"os"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }
func label(l string)               { fmt.Fprintf(&out, "%s:\n", l) }

var labelN int

func newLabel(prefix string) string { labelN++; return fmt.Sprintf("%s%d", prefix, labelN) }

// stream is one SHA-NI hash in flight: its state registers (the roles
// swap after every SHA256RNDS2), four message registers and a temporary.
type stream struct {
	abef, cdgh string
	m          [4]string
	tmp        string
}

func (s *stream) rnds2() {
	p("SHA256RNDS2 X0, %s, %s", s.abef, s.cdgh)
	s.abef, s.cdgh = s.cdgh, s.abef
}

// msgMode says where a block's K+W words come from.
type msgMode int

const (
	msgRegs  msgMode = iota // W0..W15 are in s.m; the schedule is computed
	msgConst                // K+W is a precomputed table (constant padding block)
)

// group emits four rounds (group g = rounds 4g..4g+3) of stream s.
// skipFirst leaves out rounds 4g, 4g+1 (their result is precomputed);
// skipSecond leaves out rounds 4g+2, 4g+3 (early exit).
func group(s *stream, g int, mode msgMode, table string, skipFirst, skipSecond bool) {
	if mode == msgConst {
		p("VMOVDQU %s+%d(SB), X0", table, 16*g)
	} else {
		p("VPADDD K256<>+%d(SB), %s, X0", 16*g, s.m[g%4])
	}
	if !skipFirst {
		s.rnds2()
	}
	if mode == msgRegs {
		if g >= 3 && g <= 14 {
			p("VPALIGNR $4, %s, %s, %s", s.m[(g+3)%4], s.m[g%4], s.tmp)
			p("VPADDD %s, %s, %s", s.tmp, s.m[(g+1)%4], s.m[(g+1)%4])
			p("SHA256MSG2 %s, %s", s.m[g%4], s.m[(g+1)%4])
		}
		if g >= 1 && g <= 12 {
			p("SHA256MSG1 %s, %s", s.m[g%4], s.m[(g+3)%4])
		}
	}
	if !skipSecond {
		p("VPSHUFD $0x0e, X0, X0")
		s.rnds2()
	}
}

type blockOpts struct {
	mode      msgMode
	table     string
	skipFirst bool // group 0's first half is precomputed
	early     bool // stop after rounds 60, 61 (only H7 is wanted)
}

// block emits the 64 rounds of several interleaved streams.
func block(ss []*stream, o blockOpts) {
	for g := 0; g < 16; g++ {
		for _, s := range ss {
			group(s, g, o.mode, o.table, o.skipFirst && g == 0, o.early && g == 15)
		}
	}
}

// loadState loads a state kept in ABEF/CDGH layout at mem.
func loadState(s *stream, mem string, off int) {
	p("VMOVDQU %d(%s), %s", off, mem, s.abef)
	p("VMOVDQU %d(%s), %s", off+16, mem, s.cdgh)
}

// addState adds a state kept in ABEF/CDGH layout at mem into s.
func addState(s *stream, mem string, off int) {
	p("VPADDD %d(%s), %s, %s", off, mem, s.abef, s.abef)
	p("VPADDD %d(%s), %s, %s", off+16, mem, s.cdgh, s.cdgh)
}

// toNatural writes s's state as [A,B,C,D] into lo and [E,F,G,H] into hi,
// using t1, t2 as temporaries (they may not be lo or hi).
func toNatural(s *stream, lo, hi, t1, t2 string) {
	p("VPSHUFD $0x1b, %s, %s", s.abef, t1)
	p("VPSHUFD $0xb1, %s, %s", s.cdgh, t2)
	p("VPBLENDW $0xf0, %s, %s, %s", t2, t1, lo)
	p("VPALIGNR $8, %s, %s, %s", t1, t2, hi)
}

// fromNatural turns [A..D] in lo, [E..H] in hi into s's state registers.
func fromNatural(s *stream, lo, hi string) {
	p("VPSHUFD $0xb1, %s, %s", lo, lo)
	p("VPSHUFD $0x1b, %s, %s", hi, hi)
	p("VPALIGNR $8, %s, %s, %s", hi, lo, s.abef)
	p("VPBLENDW $0xf0, %s, %s, %s", lo, hi, s.cdgh)
}

// loadMsg loads 64 bytes at off(mem) as big-endian words into s.m.
func loadMsg(s *stream, mem string, off int) {
	for i := 0; i < 4; i++ {
		p("VMOVDQU %d(%s), %s", off+16*i, mem, s.m[i])
		p("VPSHUFB flip<>(SB), %s, %s", s.m[i], s.m[i])
	}
}

// outer emits the outer hash of a double SHA-256: s's state becomes the
// message, s restarts from the IV.
func outer(ss []*stream, early bool) {
	for _, s := range ss {
		toNatural(s, s.m[0], s.m[1], s.m[2], s.m[3])
		p("VMOVDQU outerPad<>+0(SB), %s", s.m[2])
		p("VMOVDQU outerPad<>+16(SB), %s", s.m[3])
		p("VMOVDQU ivShani<>+0(SB), %s", s.abef)
		p("VMOVDQU ivShani<>+16(SB), %s", s.cdgh)
	}
	block(ss, blockOpts{mode: msgRegs, early: early})
	if !early {
		for _, s := range ss {
			p("VPADDD ivShani<>+0(SB), %s, %s", s.abef, s.abef)
			p("VPADDD ivShani<>+16(SB), %s, %s", s.cdgh, s.cdgh)
		}
	}
}

// storeDigest writes s's state as a big-endian digest to off(mem).
func storeDigest(s *stream, mem string, off int) {
	toNatural(s, s.m[0], s.m[1], s.m[2], s.m[3])
	p("VPSHUFB flip<>(SB), %s, %s", s.m[0], s.m[0])
	p("VPSHUFB flip<>(SB), %s, %s", s.m[1], s.m[1])
	p("VMOVDQU %s, %d(%s)", s.m[0], off, mem)
	p("VMOVDQU %s, %d(%s)", s.m[1], off+16, mem)
}

func streamA() *stream {
	return &stream{abef: "X1", cdgh: "X2", m: [4]string{"X3", "X4", "X5", "X6"}, tmp: "X7"}
}

func streamB() *stream {
	return &stream{abef: "X9", cdgh: "X10", m: [4]string{"X11", "X12", "X13", "X14"}, tmp: "X15"}
}

func data() {
	fmt.Fprintf(&out, "DATA flip<>+0(SB)/8, $0x0405060700010203\nDATA flip<>+8(SB)/8, $0x0c0d0e0f08090a0b\nGLOBL flip<>(SB), RODATA|NOPTR, $16\n\n")
	words := func(name string, w []uint32) {
		for i, v := range w {
			fmt.Fprintf(&out, "DATA %s+%d(SB)/4, $0x%08x\n", name, 4*i, v)
		}
		fmt.Fprintf(&out, "GLOBL %s(SB), RODATA|NOPTR, $%d\n\n", name, 4*len(w))
	}
	words("K256<>", k[:])
	iv := ivs
	// ABEF = [F,E,B,A], CDGH = [H,G,D,C] as dwords 0..3.
	words("ivShani<>", []uint32{iv[5], iv[4], iv[1], iv[0], iv[7], iv[6], iv[3], iv[2]})
	words("headerPad<>", []uint32{0x80000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 640})
	words("outerPad<>", []uint32{0x80000000, 0, 0, 0, 0, 0, 0, 256})
	var w [64]uint32
	w[0] = 0x80000000
	w[15] = 512
	for i := 16; i < 64; i++ {
		w[i] = sig1(w[i-2]) + w[i-7] + sig0(w[i-15]) + w[i-16]
	}
	for i := range w {
		w[i] += k[i]
	}
	words("pad64KW<>", w[:])
	// Lane-replicated tables for the 8-lane AVX2 kernels.
	var k8 []uint32
	for _, v := range k {
		for j := 0; j < 8; j++ {
			k8 = append(k8, v)
		}
	}
	words("K256x8<>", k8)
	avx2Data()
}

func rotr(x uint32, n uint) uint32 { return x>>n | x<<(32-n) }
func sig0(x uint32) uint32         { return rotr(x, 7) ^ rotr(x, 18) ^ x>>3 }
func sig1(x uint32) uint32         { return rotr(x, 17) ^ rotr(x, 19) ^ x>>10 }

var ivs = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

var k = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// shaniHeader: func shaniHeader(out *[32]byte, header *[80]byte)
func genHeader() {
	fmt.Fprintf(&out, "// func shaniHeader(out *[32]byte, header *[80]byte)\nTEXT ·shaniHeader(SB), NOSPLIT, $0-16\n")
	p("MOVQ out+0(FP), DI")
	p("MOVQ header+8(FP), SI")
	s := streamA()
	p("VMOVDQU ivShani<>+0(SB), %s", s.abef)
	p("VMOVDQU ivShani<>+16(SB), %s", s.cdgh)
	loadMsg(s, "SI", 0)
	block([]*stream{s}, blockOpts{mode: msgRegs})
	p("VPADDD ivShani<>+0(SB), %s, %s", s.abef, s.abef)
	p("VPADDD ivShani<>+16(SB), %s, %s", s.cdgh, s.cdgh)
	p("VMOVDQA %s, X8", s.abef)
	p("VMOVDQA %s, X9", s.cdgh)
	p("VMOVDQU 64(SI), %s", s.m[0])
	p("VPSHUFB flip<>(SB), %s, %s", s.m[0], s.m[0])
	for i := 1; i < 4; i++ {
		p("VMOVDQU headerPad<>+%d(SB), %s", 16*(i-1), s.m[i])
	}
	block([]*stream{s}, blockOpts{mode: msgRegs})
	p("VPADDD X8, %s, %s", s.abef, s.abef)
	p("VPADDD X9, %s, %s", s.cdgh, s.cdgh)
	outer([]*stream{s}, false)
	storeDigest(s, "DI", 0)
	p("RET")
	fmt.Fprintln(&out)
}

// shaniHeader2 hashes two headers as two interleaved streams.
// func shaniHeader2(out *[2][32]byte, h0, h1 *[80]byte)
func genHeader2() {
	fmt.Fprintf(&out, "// func shaniHeader2(out *[2][32]byte, h0, h1 *[80]byte)\nTEXT ·shaniHeader2(SB), NOSPLIT, $64-24\n")
	p("MOVQ out+0(FP), DI")
	p("MOVQ h0+8(FP), SI")
	p("MOVQ h1+16(FP), DX")
	a, b := streamA(), streamB()
	ss := []*stream{a, b}
	for _, s := range ss {
		p("VMOVDQU ivShani<>+0(SB), %s", s.abef)
		p("VMOVDQU ivShani<>+16(SB), %s", s.cdgh)
	}
	loadMsg(a, "SI", 0)
	loadMsg(b, "DX", 0)
	block(ss, blockOpts{mode: msgRegs})
	for i, s := range ss {
		p("VPADDD ivShani<>+0(SB), %s, %s", s.abef, s.abef)
		p("VPADDD ivShani<>+16(SB), %s, %s", s.cdgh, s.cdgh)
		p("VMOVDQU %s, %d(SP)", s.abef, 32*i)
		p("VMOVDQU %s, %d(SP)", s.cdgh, 32*i+16)
	}
	for i, s := range ss {
		src := []string{"SI", "DX"}[i]
		p("VMOVDQU 64(%s), %s", src, s.m[0])
		p("VPSHUFB flip<>(SB), %s, %s", s.m[0], s.m[0])
		for j := 1; j < 4; j++ {
			p("VMOVDQU headerPad<>+%d(SB), %s", 16*(j-1), s.m[j])
		}
	}
	block(ss, blockOpts{mode: msgRegs})
	for i, s := range ss {
		addState(s, "SP", 32*i)
	}
	outer(ss, false)
	storeDigest(a, "DI", 0)
	storeDigest(b, "DI", 32)
	p("RET")
	fmt.Fprintln(&out)
}

// shaniMerkle folds a branch: acc = sha256d(acc || node) for each node.
// func shaniMerkle(acc *[32]byte, branch *[32]byte, n int)
func genMerkle() {
	fmt.Fprintf(&out, "// func shaniMerkle(acc *[32]byte, branch *[32]byte, n int)\nTEXT ·shaniMerkle(SB), NOSPLIT, $0-24\n")
	p("MOVQ acc+0(FP), DI")
	p("MOVQ branch+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	p("TESTQ CX, CX")
	p("JZ merkleRet")
	s := streamA()
	// The accumulator's words (the message's W0..W7) stay in X8, X9
	// between nodes.
	p("VMOVDQU 0(DI), X8")
	p("VMOVDQU 16(DI), X9")
	p("VPSHUFB flip<>(SB), X8, X8")
	p("VPSHUFB flip<>(SB), X9, X9")
	label("merkleLoop")
	p("VMOVDQA X8, %s", s.m[0])
	p("VMOVDQA X9, %s", s.m[1])
	for i := 2; i < 4; i++ {
		p("VMOVDQU %d(SI), %s", 16*(i-2), s.m[i])
		p("VPSHUFB flip<>(SB), %s, %s", s.m[i], s.m[i])
	}
	p("VMOVDQU ivShani<>+0(SB), %s", s.abef)
	p("VMOVDQU ivShani<>+16(SB), %s", s.cdgh)
	block([]*stream{s}, blockOpts{mode: msgRegs})
	p("VPADDD ivShani<>+0(SB), %s, %s", s.abef, s.abef)
	p("VPADDD ivShani<>+16(SB), %s, %s", s.cdgh, s.cdgh)
	p("VMOVDQA %s, X10", s.abef)
	p("VMOVDQA %s, X11", s.cdgh)
	block([]*stream{s}, blockOpts{mode: msgConst, table: "pad64KW<>"})
	p("VPADDD X10, %s, %s", s.abef, s.abef)
	p("VPADDD X11, %s, %s", s.cdgh, s.cdgh)
	outer([]*stream{s}, false)
	toNatural(s, "X8", "X9", s.m[2], s.m[3])
	p("ADDQ $32, SI")
	p("DECQ CX")
	p("JNZ merkleLoop")
	p("VPSHUFB flip<>(SB), X8, X8")
	p("VPSHUFB flip<>(SB), X9, X9")
	p("VMOVDQU X8, 0(DI)")
	p("VMOVDQU X9, 16(DI)")
	label("merkleRet")
	p("RET")
	fmt.Fprintln(&out)
}

// shaniBlocks compresses n 64-byte blocks into h (natural layout); with
// fin, it then writes sha256 of the resulting digest to out.
func genBlocks(fin bool) {
	name := "shaniBlocks"
	if fin {
		name = "shaniBlocksOuter"
		fmt.Fprintf(&out, "// func %s(out *[32]byte, h *[8]uint32, p *byte, n int)\nTEXT ·%s(SB), NOSPLIT, $0-32\n", name, name)
		p("MOVQ out+0(FP), DI")
		p("MOVQ h+8(FP), BX")
		p("MOVQ p+16(FP), SI")
		p("MOVQ n+24(FP), CX")
	} else {
		fmt.Fprintf(&out, "// func %s(h *[8]uint32, p *byte, n int)\nTEXT ·%s(SB), NOSPLIT, $0-24\n", name, name)
		p("MOVQ h+0(FP), BX")
		p("MOVQ p+8(FP), SI")
		p("MOVQ n+16(FP), CX")
	}
	s := streamA()
	p("VMOVDQU 0(BX), X8")
	p("VMOVDQU 16(BX), X9")
	fromNatural(s, "X8", "X9")
	p("TESTQ CX, CX")
	p("JZ %sDone", name)
	label(name + "Loop")
	p("VMOVDQA %s, X8", s.abef)
	p("VMOVDQA %s, X9", s.cdgh)
	loadMsg(s, "SI", 0)
	block([]*stream{s}, blockOpts{mode: msgRegs})
	p("VPADDD X8, %s, %s", s.abef, s.abef)
	p("VPADDD X9, %s, %s", s.cdgh, s.cdgh)
	if s.abef != "X1" {
		panic("roles")
	}
	p("ADDQ $64, SI")
	p("DECQ CX")
	p("JNZ %sLoop", name)
	label(name + "Done")
	if fin {
		outer([]*stream{s}, false)
		storeDigest(s, "DI", 0)
	} else {
		toNatural(s, "X3", "X4", "X5", "X6")
		p("VMOVDQU X3, 0(BX)")
		p("VMOVDQU X4, 16(BX)")
	}
	p("RET")
	fmt.Fprintln(&out)
}

// Offsets in scanJob (scan.go).
const (
	jobMid    = 0  // midstate, ABEF/CDGH layout
	jobPre    = 32 // state after rounds 0, 1 of block 2, ABEF/CDGH layout
	jobW      = 64 // W0..W3 of block 2 (W3 is replaced by the nonce)
	jobTarget = 80 // top 32 bits of the target
	jobNCand  = 84
	jobCand   = 88
	candMax   = 32
)

// shaniScan tries count nonces from start with nstreams interleaved
// streams. count must be a multiple of nstreams. It stops early when the
// candidate buffer may not hold another round; it returns the number of
// nonces tried.
// func shaniScanN(j *scanJob, start, count uint32) uint32
func genScan(nstreams int) {
	name := fmt.Sprintf("shaniScan%d", nstreams)
	fmt.Fprintf(&out, "// func %s(j *scanJob, start, count uint32) uint32\nTEXT ·%s(SB), NOSPLIT, $0-20\n", name, name)
	p("MOVQ j+0(FP), DI")
	p("MOVL start+8(FP), BX")
	p("MOVL count+12(FP), CX")
	p("XORL R8, R8")
	label(name + "Loop")
	p("CMPL CX, $0")
	p("JEQ %sDone", name)
	p("CMPL %d(DI), $%d", jobNCand, candMax-8)
	p("JA %sDone", name)
	ss := []*stream{streamA(), streamB()}[:nstreams]
	for i, s := range ss {
		p("MOVL BX, AX")
		if i > 0 {
			p("ADDL $%d, AX", i)
		}
		p("BSWAPL AX")
		p("VMOVDQU %d(DI), %s", jobW, s.m[0])
		p("VPINSRD $3, AX, %s, %s", s.m[0], s.m[0])
		for j := 1; j < 4; j++ {
			p("VMOVDQU headerPad<>+%d(SB), %s", 16*(j-1), s.m[j])
		}
		// The state after rounds 0, 1 is loaded; group 0 then runs only
		// its second half.
		p("VMOVDQU %d(DI), %s", jobPre, s.abef)
		p("VMOVDQU %d(DI), %s", jobPre+16, s.cdgh)
	}
	block(ss, blockOpts{mode: msgRegs, skipFirst: true})
	for _, s := range ss {
		addState(s, "DI", jobMid)
	}
	outer(ss, true)
	for i, s := range ss {
		skip := newLabel("skip")
		// After rounds 60, 61 the ABEF register's F is the final H
		// before the IV is added.
		p("VMOVD %s, AX", s.abef)
		p("ADDL $0x%08x, AX", ivs[7])
		p("BSWAPL AX")
		p("CMPL AX, %d(DI)", jobTarget)
		p("JA %s", skip)
		p("MOVL %d(DI), R9", jobNCand)
		p("MOVL BX, AX")
		if i > 0 {
			p("ADDL $%d, AX", i)
		}
		p("MOVL AX, %d(DI)(R9*4)", jobCand)
		p("INCL R9")
		p("MOVL R9, %d(DI)", jobNCand)
		label(skip)
	}
	p("ADDL $%d, BX", nstreams)
	p("SUBL $%d, CX", nstreams)
	p("ADDL $%d, R8", nstreams)
	p("JMP %sLoop", name)
	label(name + "Done")
	p("MOVL R8, ret+16(FP)")
	p("RET")
	fmt.Fprintln(&out)
}

func main() {
	fmt.Fprintf(&out, "// Code generated by asm_gen.go; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n\n")
	data()
	genHeader()
	genHeader2()
	genMerkle()
	genBlocks(false)
	genBlocks(true)
	genScan(1)
	genScan(2)
	genAVX2()
	if err := os.WriteFile("sha_amd64.s", out.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
