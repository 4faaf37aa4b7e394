package sip

// charClass holds, for every byte, one bit per character set the parsers
// scan for, so that span can test four bytes with one branch. The bits
// are built from the sets themselves, so the two cannot disagree.
const (
	cToken    uint16 = 1 << iota // tokenChars
	cLenient                     // lenientValueChars
	cURIParam                    // uriParamChars
	cHost                        // hostChars
	cQdtext                      // qdtextChars
	cUser                        // userChars
	cDigit                       // '0'-'9'
	cCallID                      // what validCallID accepts
	cURIPlain                    // uriParamChars but '%'
)

var charClass = func() (t [256]uint16) {
	for c := 0; c < 256; c++ {
		for _, x := range []struct {
			set *[256]bool
			bit uint16
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
		if uriParamChars[c] && c != '%' {
			t[c] |= cURIPlain
		}
	}
	return t
}()

// spanEscaped is span over the class of uriParamChars, checking each
// escape as it goes: ok is false at a '%' not followed by two hex digits.
func spanEscaped(s string, i int) (int, bool) {
	for {
		i = span(s, i, cURIPlain)
		if i >= len(s) || s[i] != '%' {
			return i, true
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return i, false
		}
		i += 3
	}
}

// span returns the index of the first byte of s at or after i that is not
// in class bit, or len(s).
func span(s string, i int, bit uint16) int {
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
