//go:build ignore

package main

import "fmt"

// The 8-lane AVX2 kernels keep one 32-bit word of eight independent hashes
// in each YMM register. Message words live in memory (the job's scratch);
// words whose value is the same for every job (padding) are folded into
// constants at generation time, and zero words are skipped.

type wkind int

const (
	wZero   wkind = iota
	wStatic       // known at generation time
	wMem          // eight lanes at off(DI)
)

type wsrc struct {
	kind wkind
	val  uint32
	off  int
}

// c8 collects lane-replicated constants: value -> offset in c8<>.
var c8 = map[uint32]int{}
var c8order []uint32

func c8ref(v uint32) string {
	off, ok := c8[v]
	if !ok {
		off = 32 * len(c8order)
		c8[v] = off
		c8order = append(c8order, v)
	}
	return fmt.Sprintf("c8<>+%d(SB)", off)
}

func avx2Data() {
	// bswap32 mask for 32 bytes and lane offsets 0..7.
	fmt.Fprintf(&out, "DATA bswap8<>+0(SB)/8, $0x0405060700010203\nDATA bswap8<>+8(SB)/8, $0x0c0d0e0f08090a0b\n")
	fmt.Fprintf(&out, "DATA bswap8<>+16(SB)/8, $0x0405060700010203\nDATA bswap8<>+24(SB)/8, $0x0c0d0e0f08090a0b\nGLOBL bswap8<>(SB), RODATA|NOPTR, $32\n\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&out, "DATA lanes<>+%d(SB)/4, $%d\n", 4*i, i)
	}
	fmt.Fprintf(&out, "GLOBL lanes<>(SB), RODATA|NOPTR, $32\n\n")
}

// emitC8 writes the constants table; call after all kernels are generated.
func emitC8() {
	for i, v := range c8order {
		for j := 0; j < 8; j++ {
			fmt.Fprintf(&out, "DATA c8<>+%d(SB)/4, $0x%08x\n", 32*i+4*j, v)
		}
	}
	fmt.Fprintf(&out, "GLOBL c8<>(SB), RODATA|NOPTR, $%d\n\n", 32*len(c8order))
}

// avxState names the registers holding a..h.
type avxState [8]string

func newAvxState() avxState { return avxState{"Y0", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"} }

// operand returns an instruction operand for a W word that is not zero.
func (w wsrc) operand() string {
	if w.kind == wStatic {
		return c8ref(w.val)
	}
	return fmt.Sprintf("%d(DI)", w.off)
}

// sigma emits dst = rotr(x,r1) ^ rotr(x,r2) ^ (x >> r3 or rotr(x, r3)) as
// a tree of xors (depth 4 from x instead of 6): the round's critical path
// runs through Σ1(e). t1, t2 are temporaries.
func sigma(x, dst, t1, t2 string, r1, r2, r3 int, shr3 bool) {
	p("VPSRLD $%d, %s, %s", r1, x, dst)
	p("VPSLLD $%d, %s, %s", 32-r1, x, t1)
	p("VPSRLD $%d, %s, %s", r2, x, t2)
	p("VPXOR %s, %s, %s", t1, dst, dst)
	p("VPSLLD $%d, %s, %s", 32-r2, x, t1)
	p("VPXOR %s, %s, %s", t1, t2, t2)
	p("VPSRLD $%d, %s, %s", r3, x, t1)
	p("VPXOR %s, %s, %s", t2, dst, dst)
	if !shr3 {
		p("VPSLLD $%d, %s, %s", 32-r3, x, t2)
		p("VPXOR %s, %s, %s", t2, t1, t1)
	}
	p("VPXOR %s, %s, %s", t1, dst, dst)
}

// avxBlock emits rounds [from, to) of one block over eight lanes. w gives
// W0..W15; computed words W16.. are stored at scratch+32*t(DI). The state
// registers st must hold the state before round `from`; on return st names
// the registers after round to-1.
func avxBlock(st *avxState, w16 [16]wsrc, scratch, from, to int) {
	var w [64]wsrc
	copy(w[:], w16[:])
	s := *st
	bc, ab := "Y10", "Y11"
	p("VPXOR %s, %s, %s", s[1], s[2], bc)
	for t := from; t < to; t++ {
		if t >= 16 {
			w[t] = expandWord(&w, t, scratch)
		}
		a, b, d, e, f, g, h := s[0], s[1], s[3], s[4], s[5], s[6], s[7]
		// h += K[t] + W[t] + Ch(e,f,g) + Σ1(e); the terms that do not
		// wait for e go first.
		switch w[t].kind {
		case wZero:
			p("VPADDD %s, %s, %s", c8ref(k[t]), h, h)
		case wStatic:
			p("VPADDD %s, %s, %s", c8ref(k[t]+w[t].val), h, h)
		default:
			p("VPADDD %s, %s, %s", c8ref(k[t]), h, h)
			p("VPADDD %s, %s, %s", w[t].operand(), h, h)
		}
		p("VPXOR %s, %s, Y9", f, g)
		p("VPAND %s, Y9, Y9", e)
		p("VPXOR %s, Y9, Y9", g)
		p("VPADDD Y9, %s, %s", h, h)
		sigma(e, "Y8", "Y12", "Y13", 6, 11, 25, false)
		p("VPADDD Y8, %s, %s", h, h)
		p("VPADDD %s, %s, %s", h, d, d)
		// h += Σ0(a) + Maj(a,b,c)
		sigma(a, "Y8", "Y12", "Y13", 2, 13, 22, false)
		p("VPADDD Y8, %s, %s", h, h)
		p("VPXOR %s, %s, %s", a, b, ab)
		p("VPAND %s, %s, Y9", ab, bc)
		p("VPXOR %s, Y9, Y9", b)
		p("VPADDD Y9, %s, %s", h, h)
		ab, bc = bc, ab
		s = avxState{s[7], s[0], s[1], s[2], s[3], s[4], s[5], s[6]}
	}
	*st = s
}

// expandWord computes W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16],
// folding what is known at generation time.
func expandWord(w *[64]wsrc, t, scratch int) wsrc {
	terms := []struct {
		src   wsrc
		sigma int // 0 none, 1 σ1, -1 σ0
	}{{w[t-2], 1}, {w[t-7], 0}, {w[t-15], -1}, {w[t-16], 0}}
	var static uint32
	var dyn int
	for _, tm := range terms {
		switch tm.src.kind {
		case wZero:
		case wStatic:
			v := tm.src.val
			if tm.sigma == 1 {
				v = sig1(v)
			} else if tm.sigma == -1 {
				v = sig0(v)
			}
			static += v
		default:
			dyn++
		}
	}
	if dyn == 0 {
		if static == 0 {
			return wsrc{kind: wZero}
		}
		return wsrc{kind: wStatic, val: static}
	}
	acc := "Y12"
	started := false
	add := func(reg string) {
		if !started {
			if reg != acc {
				p("VMOVDQA %s, %s", reg, acc)
			}
			started = true
			return
		}
		p("VPADDD %s, %s, %s", reg, acc, acc)
	}
	for _, tm := range terms {
		if tm.src.kind != wMem {
			continue
		}
		switch tm.sigma {
		case 0:
			if !started {
				p("VMOVDQU %s, %s", tm.src.operand(), acc)
				started = true
			} else {
				p("VPADDD %s, %s, %s", tm.src.operand(), acc, acc)
			}
		default:
			p("VMOVDQU %s, Y13", tm.src.operand())
			if tm.sigma == 1 {
				sigma("Y13", "Y14", "Y15", "Y9", 17, 19, 10, true)
			} else {
				sigma("Y13", "Y14", "Y15", "Y9", 7, 18, 3, true)
			}
			add("Y14")
		}
	}
	if static != 0 {
		p("VPADDD %s, %s, %s", c8ref(static), acc, acc)
	}
	off := scratch + 32*t
	p("VMOVDQU %s, %d(DI)", acc, off)
	return wsrc{kind: wMem, off: off}
}

// Offsets in avxScanJob (scan.go).
const (
	axPre3   = 0    // [8][8]uint32 state after rounds 0..2 of block 2
	axMid    = 256  // [8][8]uint32 midstate
	axW      = 512  // [64][8]uint32 block 2 schedule; Go fills W0..W2
	axOW     = 2560 // [64][8]uint32 outer schedule scratch
	axTarget = 4608 // [8]uint32 (top 32 bits of target) ^ 0x80000000
	axNCand  = 4640
	axCand   = 4644
)

// func avx2Scan8(j *avxScanJob, start, count uint32) uint32
// count must be a multiple of 8.
func genAVX2Scan() {
	name := "avx2Scan8"
	fmt.Fprintf(&out, "// func %s(j *avxScanJob, start, count uint32) uint32\nTEXT ·%s(SB), NOSPLIT, $0-20\n", name, name)
	p("MOVQ j+0(FP), DI")
	p("MOVL start+8(FP), BX")
	p("MOVL count+12(FP), CX")
	p("XORL R8, R8")
	label(name + "Loop")
	p("CMPL CX, $0")
	p("JEQ %sDone", name)
	p("CMPL %d(DI), $%d", axNCand, candMax-8)
	p("JA %sDone", name)
	// W3 = bswap(nonce + lane)
	p("VMOVD BX, X12")
	p("VPBROADCASTD X12, Y12")
	p("VPADDD lanes<>(SB), Y12, Y12")
	p("VPSHUFB bswap8<>(SB), Y12, Y12")
	p("VMOVDQU Y12, %d(DI)", axW+3*32)
	st := newAvxState()
	for i := 0; i < 8; i++ {
		p("VMOVDQU %d(DI), %s", axPre3+32*i, st[i])
	}
	var w [16]wsrc
	for i := 0; i < 4; i++ {
		w[i] = wsrc{kind: wMem, off: axW + 32*i}
	}
	for i, v := range []uint32{0x80000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 640} {
		if v != 0 {
			w[4+i] = wsrc{kind: wStatic, val: v}
		}
	}
	avxBlock(&st, w, axW, 3, 64)
	for i := 0; i < 8; i++ {
		p("VPADDD %d(DI), %s, %s", axMid+32*i, st[i], st[i])
		p("VMOVDQU %s, %d(DI)", st[i], axOW+32*i)
	}
	var ow [16]wsrc
	for i := 0; i < 8; i++ {
		ow[i] = wsrc{kind: wMem, off: axOW + 32*i}
	}
	ow[8] = wsrc{kind: wStatic, val: 0x80000000}
	ow[15] = wsrc{kind: wStatic, val: 256}
	st = newAvxState()
	for i := 0; i < 8; i++ {
		p("VMOVDQU %s, %s", c8ref(ivs[i]), st[i])
	}
	// Rounds 0..60: e after round 60 is h after round 63.
	avxBlock(&st, ow, axOW, 0, 61)
	e := st[4]
	p("VPADDD %s, %s, %s", c8ref(ivs[7]), e, e)
	p("VPSHUFB bswap8<>(SB), %s, %s", e, e)
	p("VPXOR %s, %s, %s", c8ref(0x80000000), e, e)
	p("VPCMPGTD %d(DI), %s, Y8", axTarget, e)
	p("VMOVMSKPS Y8, AX")
	p("XORL $0xff, AX")
	p("JZ %sNext", name)
	label(name + "Cand")
	p("BSFL AX, R9")
	p("LEAL (BX)(R9*1), R10")
	p("MOVL %d(DI), R11", axNCand)
	p("MOVL R10, %d(DI)(R11*4)", axCand)
	p("INCL R11")
	p("MOVL R11, %d(DI)", axNCand)
	p("LEAL -1(AX), R10")
	p("ANDL R10, AX")
	p("JNZ %sCand", name)
	label(name + "Next")
	p("ADDL $8, BX")
	p("SUBL $8, CX")
	p("ADDL $8, R8")
	p("JMP %sLoop", name)
	label(name + "Done")
	p("VZEROUPPER")
	p("MOVL R8, ret+16(FP)")
	p("RET")
	fmt.Fprintln(&out)
}

// Offsets in avxBatchJob (batch.go).
const (
	abW   = 0    // [64][8]uint32: block 1 W0..W15 (filled by Go), scratch
	abW2  = 2048 // [4][8]uint32: block 2 W0..W3
	abMid = 2176 // [8][8]uint32
	abOut = 2432 // [8][8]uint32 final state, word-major
)

// func avx2Header8(j *avxBatchJob)
func genAVX2Batch() {
	fmt.Fprintf(&out, "// func avx2Header8(j *avxBatchJob)\nTEXT ·avx2Header8(SB), NOSPLIT, $0-8\n")
	p("MOVQ j+0(FP), DI")
	st := newAvxState()
	for i := 0; i < 8; i++ {
		p("VMOVDQU %s, %s", c8ref(ivs[i]), st[i])
	}
	var w [16]wsrc
	for i := range w {
		w[i] = wsrc{kind: wMem, off: abW + 32*i}
	}
	avxBlock(&st, w, abW, 0, 64)
	for i := 0; i < 8; i++ {
		p("VPADDD %s, %s, %s", c8ref(ivs[i]), st[i], st[i])
		p("VMOVDQU %s, %d(DI)", st[i], abMid+32*i)
	}
	var w2 [16]wsrc
	for i := 0; i < 4; i++ {
		w2[i] = wsrc{kind: wMem, off: abW2 + 32*i}
	}
	w2[4] = wsrc{kind: wStatic, val: 0x80000000}
	w2[15] = wsrc{kind: wStatic, val: 640}
	avxBlock(&st, w2, abW, 0, 64)
	for i := 0; i < 8; i++ {
		p("VPADDD %d(DI), %s, %s", abMid+32*i, st[i], st[i])
		p("VMOVDQU %s, %d(DI)", st[i], abW+32*i)
	}
	var ow [16]wsrc
	for i := 0; i < 8; i++ {
		ow[i] = wsrc{kind: wMem, off: abW + 32*i}
	}
	ow[8] = wsrc{kind: wStatic, val: 0x80000000}
	ow[15] = wsrc{kind: wStatic, val: 256}
	st = newAvxState()
	for i := 0; i < 8; i++ {
		p("VMOVDQU %s, %s", c8ref(ivs[i]), st[i])
	}
	avxBlock(&st, ow, abW, 0, 64)
	for i := 0; i < 8; i++ {
		p("VPADDD %s, %s, %s", c8ref(ivs[i]), st[i], st[i])
		p("VMOVDQU %s, %d(DI)", st[i], abOut+32*i)
	}
	p("VZEROUPPER")
	p("RET")
	fmt.Fprintln(&out)
}

func genAVX2() {
	genAVX2Scan()
	genAVX2Batch()
	emitC8()
}
