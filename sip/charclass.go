package sip

// charClass holds, for every byte, one bit per character set the parsers
// scan for, so that span can test four bytes with one branch. The bits
// are built from the sets themselves, so the two cannot disagree.
const (
	cToken    uint8 = 1 << iota // tokenChars
	cLenient                    // lenientValueChars
	cURIParam                   // uriParamChars
	cHost                       // hostChars
	cQdtext                     // qdtextChars
	cUser                       // userChars
	cDigit                      // '0'-'9'
	cCallID                     // what validCallID accepts
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		for _, x := range []struct {
			set *[256]bool
			bit uint8
		}{
			{&tokenChars, cToken}, {&lenientValueChars, cLenient}, {&uriParamChars, cURIParam},
			{&hostChars, cHost}, {&qdtextChars, cQdtext}, {&userChars, cUser},
		} {
			if x.set[c] {
				t[c] |= x.bit
			}
		}
		if c >= '0' && c <= '9' {
			t[c] |= cDigit
		}
		if c > ' ' && c < 0x7f {
			t[c] |= cCallID
		}
	}
	return t
}()

// span returns the index of the first byte of s at or after i that is not
// in class bit, or len(s).
func span(s string, i int, bit uint8) int {
	for i >= 0 && i < len(s)-3 {
		w := s[i : i+4]
		if charClass[w[0]]&charClass[w[1]]&charClass[w[2]]&charClass[w[3]]&bit == 0 {
			break
		}
		i += 4
	}
	for i >= 0 && i < len(s) && charClass[s[i]]&bit != 0 {
		i++
	}
	return i
}
