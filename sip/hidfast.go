package sip

import (
	"encoding/binary"
	"strings"
)

// Header names are identified in the parser's hot loop from at most three
// 8-byte little-endian words of the name: the first eight bytes (masked to
// the name), the last eight (overlapping the first for names of 9 to 16
// bytes) and bytes 8 to 16 (for names longer than 16). The case-folded
// words hash perfectly into hidFast; the candidate is then confirmed
// exactly: each byte of the name must equal the lower-case canonical byte,
// or differ from it only in the 0x20 bit where that byte is a letter. So
// the match is ASCII case-insensitive and accepts nothing else (a CR, which
// folds to '-', does not match '-').

const (
	hidFold   = 0x2020202020202020
	hidMul    = 0x430c8b35bb9457d9 // makes hidWordHash perfect on the canonical names (checked at init)
	hidMaxLen = 20                 // the longest canonical name, P-Preferred-Identity
)

type hidWord struct {
	l0, l1, l2 uint64 // the lower-case canonical name, as loaded by hidWordsOf
	n          int    // length; 0 for hOther, which matches no name
}

var (
	hidWords [numHIDs]hidWord
	hidFast  [512]hid
)

func init() {
	for id := hid(1); id < numHIDs; id++ {
		name := canonicalNames[id]
		b := []byte(strings.ToLower(name))
		if len(b) > hidMaxLen || len(b) < 2 {
			panic("sip: canonical header name length out of range: " + name)
		}
		for _, c := range b {
			if (c < 'a' || c > 'z') && c != '-' {
				panic("sip: canonical header name not made of letters and '-': " + name)
			}
		}
		l0, l1, l2 := hidWordsOf(b, 0, len(b))
		hidWords[id] = hidWord{l0, l1, l2, len(b)}
		k := hidWordHash(l0, l1, len(b))
		if hidFast[k] != hOther {
			panic("sip: header name hash collision: " + name) // caught by any test, at init
		}
		hidFast[k] = id
	}
}

// hidWordsOf loads the words of b[i:i+n] (2 <= n <= hidMaxLen) as hidAt
// does, also when b ends before i+8.
func hidWordsOf(b []byte, i, n int) (w0, w1, w2 uint64) {
	if i+8 <= len(b) {
		w0 = binary.LittleEndian.Uint64(b[i:])
	} else {
		for k := n - 1; k >= 0; k-- {
			w0 = w0<<8 | uint64(b[i+k])
		}
	}
	if n < 8 {
		w0 &= 1<<(8*uint(n)) - 1
	}
	w1, w2 = w0, w0
	if n > 8 {
		w1 = binary.LittleEndian.Uint64(b[i+n-8:])
		if n > 16 {
			w2 = binary.LittleEndian.Uint64(b[i+8:])
		}
	}
	return w0, w1, w2
}

func hidWordHash(w0, w1 uint64, n int) uint64 {
	return (((w0 | hidFold) + (w1|hidFold)<<1 + uint64(n)) * hidMul) >> 55
}

// hidMatch reports whether the words of a name of length n spell the
// canonical name e in any case. A lower-case canonical byte has 0x40 set
// for a letter, clear for '-', so (l>>1)&hidFold marks the letters.
func hidMatch(e *hidWord, w0, w1, w2 uint64, n int) bool {
	return e.n == n &&
		(w0^e.l0)&^(e.l0>>1&hidFold)|(w1^e.l1)&^(e.l1>>1&hidFold)|(w2^e.l2)&^(e.l2>>1&hidFold) == 0
}

// hidAt returns the ID of the header name b[i:i+n], in any case, full or
// compact; hOther for any other name.
func hidAt(b []byte, i, n int) hid {
	if n < 2 || n > hidMaxLen || i+8 > len(b) {
		return hidAtSlow(b, i, n)
	}
	w0 := binary.LittleEndian.Uint64(b[i:])
	if n <= 8 { // one word: most names, the compact forms aside
		return hidOfWord(w0&(^uint64(0)>>(64-8*uint(n))), n)
	}
	w1 := binary.LittleEndian.Uint64(b[i+n-8:])
	w2 := w0
	if n > 16 {
		w2 = binary.LittleEndian.Uint64(b[i+8:])
	}
	id := hidFast[hidWordHash(w0, w1, n)]
	if !hidMatch(&hidWords[id], w0, w1, w2, n) {
		return hOther
	}
	return id
}

// hidOfWord returns the ID of the header name of n bytes, 2 <= n <= 8,
// that is the word w0 (the bytes past the name zero).
func hidOfWord(w0 uint64, n int) hid {
	id := hidFast[hidWordHash(w0, w0, n)]
	if e := &hidWords[id]; e.n != n || (w0^e.l0)&^(e.l0>>1&hidFold) != 0 {
		return hOther
	}
	return id
}

func hidAtSlow(b []byte, i, n int) hid {
	if n < 2 {
		if n == 1 {
			if c := b[i] | 0x20; c >= 'a' && c <= 'z' {
				return compactForms[c-'a']
			}
		}
		return hOther
	}
	if n > hidMaxLen {
		return hOther
	}
	w0, w1, w2 := hidWordsOf(b, i, n)
	id := hidFast[hidWordHash(w0, w1, n)]
	if !hidMatch(&hidWords[id], w0, w1, w2, n) {
		return hOther
	}
	return id
}
