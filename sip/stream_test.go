package sip

import (
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptChunkReader returns the data in chunks whose sizes come from sizes
// (cycled); a size of 0 returns (0, nil) once, which a reader may do.
type ptChunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *ptChunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = r.sizes[r.i%len(r.sizes)]
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// ptReaders gives the same data through several read patterns.
func ptReaders(data string) map[string]func() io.Reader {
	return map[string]func() io.Reader{
		"whole":       func() io.Reader { return strings.NewReader(data) },
		"one byte":    func() io.Reader { return iotest.OneByteReader(strings.NewReader(data)) },
		"half":        func() io.Reader { return iotest.HalfReader(strings.NewReader(data)) },
		"data+EOF":    func() io.Reader { return iotest.DataErrReader(strings.NewReader(data)) },
		"odd chunks":  func() io.Reader { return &ptChunkReader{data: []byte(data), sizes: []int{3, 0, 17, 1, 64, 5}} },
		"7-byte read": func() io.Reader { return &ptChunkReader{data: []byte(data), sizes: []int{7}} },
	}
}

// ptReadAll reads messages until an error other than ErrPing and returns
// the start lines (or "PING"), the bodies and the final error.
func ptReadAll(t *testing.T, p *Parser) (events []string, err error) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		m, err := p.ReadMessage()
		if errors.Is(err, ErrPing) {
			assert.Nil(t, m)
			events = append(events, "PING")
			continue
		}
		if err != nil {
			assert.Nil(t, m)
			return events, err
		}
		require.NotNil(t, m)
		events = append(events, m.StartLine()+"|"+string(m.Body()))
	}
	t.Fatal("ReadMessage does not stop")
	return nil, nil
}

var (
	ptStreamA = ptBuild("INVITE sip:bob@biloxi.example.com SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nCall-ID: a\n", "v=0\r\n")
	ptStreamB = ptBuild("SIP/2.0 200 OK\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nCall-ID: a\n", "")
	ptStreamC = ptCRLF("MESSAGE sip:x SIP/2.0\nl: 12\nCall-ID: c\n\n") + "hello\r\nworld"
)

func TestParserStream(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		events []string
		err    error
	}{
		{"pipelined", ptStreamA + ptStreamB + ptStreamC,
			[]string{"INVITE sip:bob@biloxi.example.com SIP/2.0|v=0\r\n", "SIP/2.0 200 OK|", "MESSAGE sip:x SIP/2.0|hello\r\nworld"}, io.EOF},
		{"empty stream", "", nil, io.EOF},
		{"ping between messages", ptStreamA + "\r\n\r\n" + ptStreamB,
			[]string{"INVITE sip:bob@biloxi.example.com SIP/2.0|v=0\r\n", "PING", "SIP/2.0 200 OK|"}, io.EOF},
		{"ping first", "\r\n\r\n" + ptStreamB,
			[]string{"PING", "SIP/2.0 200 OK|"}, io.EOF},
		{"two pings", "\r\n\r\n\r\n\r\n" + ptStreamB,
			[]string{"PING", "PING", "SIP/2.0 200 OK|"}, io.EOF},
		{"ping at the end", ptStreamB + "\r\n\r\n",
			[]string{"SIP/2.0 200 OK|", "PING"}, io.EOF},
		{"pong before a message is skipped", "\r\n" + ptStreamB,
			[]string{"SIP/2.0 200 OK|"}, io.EOF},
		{"pong between messages is skipped", ptStreamB + "\r\n" + ptStreamC,
			[]string{"SIP/2.0 200 OK|", "MESSAGE sip:x SIP/2.0|hello\r\nworld"}, io.EOF},
		{"pong at the end", ptStreamB + "\r\n", []string{"SIP/2.0 200 OK|"}, io.EOF},
		{"pong then a stray CR", "\r\n\r" + ptStreamB, []string{"SIP/2.0 200 OK|"}, io.EOF},
		{"stray LFs", "\n\n" + ptStreamB + "\n", []string{"SIP/2.0 200 OK|"}, io.EOF},
		{"ping then pong", ptStreamB + "\r\n\r\n\r\n" + ptStreamB,
			[]string{"SIP/2.0 200 OK|", "PING", "SIP/2.0 200 OK|"}, io.EOF},
		{"bare LF message", "OPTIONS sip:x SIP/2.0\nContent-Length: 2\n\nhi" + ptStreamB,
			[]string{"OPTIONS sip:x SIP/2.0|hi", "SIP/2.0 200 OK|"}, io.EOF},
		{"bare LF message followed by CRLF message", "OPTIONS sip:a SIP/2.0\nContent-Length: 0\n\n" + ptBuild("OPTIONS sip:b SIP/2.0\n", ""),
			[]string{"OPTIONS sip:a SIP/2.0|", "OPTIONS sip:b SIP/2.0|"}, io.EOF},
		{"bare LF blank line after a CRLF line", "OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\n" + ptBuild("OPTIONS sip:b SIP/2.0\n", ""),
			[]string{"OPTIONS sip:a SIP/2.0|", "OPTIONS sip:b SIP/2.0|"}, io.EOF},
		{"body containing CRLF CRLF", ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 10\n\n\n\nab\n\n") + ptStreamB,
			[]string{"MESSAGE sip:x SIP/2.0|\r\n\r\nab\r\n\r\n", "SIP/2.0 200 OK|"}, io.EOF},
		{"body that looks like a message", ptBuild("MESSAGE sip:x SIP/2.0\n", ptStreamB) + ptStreamC,
			[]string{"MESSAGE sip:x SIP/2.0|" + ptStreamB, "MESSAGE sip:x SIP/2.0|hello\r\nworld"}, io.EOF},
		{"ends inside the header section", ptStreamA + "OPTIONS sip:x SIP/2.0\r\nCall-ID: x\r\n",
			[]string{"INVITE sip:bob@biloxi.example.com SIP/2.0|v=0\r\n"}, ErrIncomplete},
		{"ends inside the body", ptStreamA + ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 10\n\nabc"),
			[]string{"INVITE sip:bob@biloxi.example.com SIP/2.0|v=0\r\n"}, ErrIncomplete},
		{"ends after a partial ping", ptStreamB + "\r\n\r", []string{"SIP/2.0 200 OK|"}, io.EOF},
		{"missing Content-Length", ptStreamB + ptCRLF("MESSAGE sip:x SIP/2.0\nCall-ID: c\n\nhello") + ptStreamB,
			[]string{"SIP/2.0 200 OK|"}, ErrContentLength},
		{"bad Content-Length", ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: -1\n\n") + ptStreamB, nil, ErrContentLength},
		{"conflicting Content-Length", ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 1\nl: 2\n\nab") + ptStreamB, nil, ErrContentLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for rname, reader := range ptReaders(tt.data) {
				t.Run(rname, func(t *testing.T) {
					p := NewParser(reader())
					events, err := ptReadAll(t, p)
					assert.Equal(t, tt.events, events)
					require.ErrorIs(t, err, tt.err)
					if tt.err != io.EOF {
						var pe *ParseError
						assert.True(t, errors.As(err, &pe), "%T %v", err, err)
					}
					// Sticky: the same error again.
					m, err2 := p.ReadMessage()
					assert.Nil(t, m)
					assert.Equal(t, err, err2)
				})
			}
		})
	}
}

func TestParserMissingContentLengthIsSticky(t *testing.T) {
	p := NewParser(strings.NewReader(ptCRLF("MESSAGE sip:x SIP/2.0\nCall-ID: c\n\nhello") + ptStreamB + ptStreamB))
	_, err := p.ReadMessage()
	require.ErrorIs(t, err, ErrContentLength)
	var pe *ParseError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "Content-Length", pe.Header)
	for i := 0; i < 3; i++ {
		m, err2 := p.ReadMessage()
		assert.Nil(t, m)
		assert.ErrorIs(t, err2, ErrContentLength)
	}
}

func TestParserSkipsMalformedFramedMessage(t *testing.T) {
	bad := []string{
		ptBuild("INVITE sip:x SIP/2.0\nCSeq: abc INVITE\nCall-ID: c\n", "xyz"),
		ptBuild("INVITE sip:x SIP/2.0\nNo colon\n", ""),
		ptBuild("INVITE sip:%zz SIP/2.0\n", ""),
		ptBuild("SIP/2.0 999 Bad\n", ""),
		ptBuild("INVITE sip:x SIP/2.0\nSubject: a\x00b\n", ""),
		ptBuild("INVITE sip:x SIP/2.0\nFrom: <sip:x\n", ""),
	}
	for _, b := range bad {
		t.Run(strings.SplitN(b, "\r\n", 3)[1], func(t *testing.T) {
			for rname, reader := range ptReaders(b + ptStreamA + "\r\n\r\n" + b + ptStreamB) {
				t.Run(rname, func(t *testing.T) {
					p := NewParser(reader())
					_, err := p.ReadMessage()
					var pe *ParseError
					require.True(t, errors.As(err, &pe), "%v", err)
					assert.ErrorIs(t, err, ErrMalformed)

					m, err := p.ReadMessage()
					require.NoError(t, err, "the next message still parses")
					assert.Equal(t, "INVITE sip:bob@biloxi.example.com SIP/2.0", m.StartLine())
					_, err = p.ReadMessage()
					assert.ErrorIs(t, err, ErrPing)
					_, err = p.ReadMessage()
					assert.True(t, errors.As(err, &pe))
					m, err = p.ReadMessage()
					require.NoError(t, err)
					assert.Equal(t, "SIP/2.0 200 OK", m.StartLine())
					_, err = p.ReadMessage()
					assert.Equal(t, io.EOF, err)
				})
			}
		})
	}

	t.Run("Partial is available", func(t *testing.T) {
		p := NewParser(strings.NewReader(bad[0]))
		_, err := p.ReadMessage()
		var pe *ParseError
		require.True(t, errors.As(err, &pe))
		req, ok := pe.Partial.(*Request)
		require.True(t, ok)
		res := NewResponse(req, 400, "")
		assert.Equal(t, "c", res.CallID())
		assert.Equal(t, "abc INVITE", res.Get("CSeq"))
	})
}

func TestParserLimits(t *testing.T) {
	big := ptBuild("MESSAGE sip:x SIP/2.0\nSubject: "+strings.Repeat("s", 600)+"\n", "")
	tests := []struct {
		name    string
		data    string
		lim     Limits
		want    error
		sticky  bool
		partial bool
	}{
		{"header section over the message size", big, Limits{MaxMessageSize: 256}, ErrMessageTooLarge, true, false},
		{"unterminated header section over the message size", "MESSAGE sip:x SIP/2.0\r\nSubject: " + strings.Repeat("s", 600), Limits{MaxMessageSize: 256}, ErrMessageTooLarge, true, false},
		{"endless header section", "MESSAGE sip:x SIP/2.0\r\n" + strings.Repeat("X-A: 1\r\n", 10000), Limits{}, ErrMessageTooLarge, true, false},
		// The header section was parsed: Partial lets the transport answer 513 before closing.
		{"body over the body size", ptBuild("MESSAGE sip:x SIP/2.0\n", strings.Repeat("b", 100)), Limits{MaxBodySize: 99}, ErrBodyTooLarge, true, true},
		{"Content-Length over the body size", ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 100000\n\n"), Limits{}, ErrBodyTooLarge, true, true},
		{"header and body over the message size", ptBuild("MESSAGE sip:x SIP/2.0\n", strings.Repeat("b", 300)), Limits{MaxMessageSize: 256, MaxBodySize: 1000}, ErrMessageTooLarge, true, true},
		{"header line too long", big, Limits{MaxHeaderLength: 100}, ErrHeaderTooLong, false, false},
		{"too many headers", ptBuild("MESSAGE sip:x SIP/2.0\n"+strings.Repeat("X-A: 1\n", 10), ""), Limits{MaxHeaders: 5}, ErrTooManyHeaders, false, false},
		{"Request-URI too long", ptBuild("MESSAGE sip:"+strings.Repeat("u", 100)+" SIP/2.0\n", ""), Limits{MaxURILength: 50}, ErrURITooLong, false, false},
		{"From URI too long", ptBuild("MESSAGE sip:x SIP/2.0\nFrom: <sip:"+strings.Repeat("u", 100)+">\n", ""), Limits{MaxURILength: 50}, ErrURITooLong, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for rname, reader := range ptReaders(tt.data + ptStreamB) {
				t.Run(rname, func(t *testing.T) {
					p := NewParserLimits(reader(), tt.lim)
					m, err := p.ReadMessage()
					assert.Nil(t, m)
					require.ErrorIs(t, err, tt.want)
					var pe *ParseError
					require.True(t, errors.As(err, &pe))
					assert.Equal(t, tt.partial, pe.Partial != nil)
					m, err = p.ReadMessage()
					if tt.sticky {
						assert.ErrorIs(t, err, tt.want)
						return
					}
					require.NoError(t, err)
					assert.Equal(t, "SIP/2.0 200 OK", m.StartLine())
				})
			}
		})
	}
}

func TestParserLargeMessages(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 3000) // 48,000 bytes: the buffer grows
	data := ptBuild("MESSAGE sip:x SIP/2.0\nSubject: "+strings.Repeat("s", 5000)+"\n", body) + ptStreamB
	for rname, reader := range ptReaders(data) {
		if rname == "one byte" {
			continue // slow and covered by smaller cases
		}
		t.Run(rname, func(t *testing.T) {
			p := NewParser(reader())
			m, err := p.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, body, string(m.Body()))
			m, err = p.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, "SIP/2.0 200 OK", m.StartLine())
		})
	}

	t.Run("no limits", func(t *testing.T) {
		body := strings.Repeat("x", 200000)
		p := NewParserLimits(strings.NewReader(ptBuild("MESSAGE sip:x SIP/2.0\n", body)+ptStreamB),
			Limits{MaxMessageSize: -1, MaxBodySize: -1})
		m, err := p.ReadMessage()
		require.NoError(t, err)
		assert.Len(t, m.Body(), len(body))
		m, err = p.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "SIP/2.0 200 OK", m.StartLine())
	})

	t.Run("exactly the default message size", func(t *testing.T) {
		head := ptCRLF("MESSAGE sip:x SIP/2.0\nContent-Length: 65000\n\n")
		msg := head + strings.Repeat("b", 65000)
		msg = ptCRLF("MESSAGE sip:x SIP/2.0\nX-Pad: "+strings.Repeat("p", DefaultMaxMessageSize-len(msg)-9)+"\n") + msg[len("MESSAGE sip:x SIP/2.0\r\n"):]
		require.Len(t, msg, DefaultMaxMessageSize)
		p := NewParser(strings.NewReader(msg + ptStreamB))
		m, err := p.ReadMessage()
		require.NoError(t, err)
		assert.Len(t, m.Body(), 65000)
		m, err = p.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "SIP/2.0 200 OK", m.StartLine())

		p = NewParser(strings.NewReader(msg[:30] + "x" + msg[30:]))
		_, err = p.ReadMessage()
		assert.ErrorIs(t, err, ErrMessageTooLarge)
	})
}

func TestParserReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	p := NewParser(io.MultiReader(strings.NewReader(ptStreamA), iotest.ErrReader(boom)))
	m, err := p.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "INVITE sip:bob@biloxi.example.com SIP/2.0", m.StartLine())
	_, err = p.ReadMessage()
	assert.Equal(t, boom, err)
	_, err = p.ReadMessage()
	assert.Equal(t, boom, err, "sticky")

	p = NewParser(io.MultiReader(strings.NewReader(ptStreamA[:40]), iotest.ErrReader(boom)))
	_, err = p.ReadMessage()
	assert.Equal(t, boom, err, "a read error inside a message is returned as is")

	p = NewParser(iotest.TimeoutReader(strings.NewReader(ptStreamA + ptStreamB)))
	_, err = ptReadAll(t, p)
	assert.ErrorIs(t, err, iotest.ErrTimeout)

	p = NewParser(ptZeroReader{})
	_, err = p.ReadMessage()
	assert.ErrorIs(t, err, io.ErrNoProgress)
}

type ptZeroReader struct{}

func (ptZeroReader) Read([]byte) (int, error) { return 0, nil }

func TestParserBuffered(t *testing.T) {
	p := NewParser(strings.NewReader(ptStreamA + ptStreamB))
	assert.Equal(t, 0, p.Buffered())
	_, err := p.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, len(ptStreamB), p.Buffered())
	_, err = p.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, 0, p.Buffered())
}

func TestParserRandomSplits(t *testing.T) {
	msgs := []string{ptStreamA, ptStreamB, ptStreamC, "\r\n\r\n", "\r\n", ptInvite, ptResponse200, ptCompact, ptRegister}
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 50; round++ {
		var sb strings.Builder
		var want []string
		for i := 0; i < 8; i++ {
			s := msgs[rng.Intn(len(msgs))]
			sb.WriteString(s)
			switch s {
			case "\r\n\r\n":
				want = append(want, "PING")
			case "\r\n":
			default:
				m := ptParse(t, s)
				want = append(want, m.StartLine()+"|"+string(m.Body()))
			}
		}
		// A pong followed by a ping is "\r\n\r\n\r\n": the parser sees the
		// ping first; parse the expectation the same way.
		sizes := make([]int, 1+rng.Intn(5))
		for i := range sizes {
			sizes[i] = rng.Intn(40)
		}
		p := NewParser(&ptChunkReader{data: []byte(sb.String()), sizes: sizes})
		events, err := ptReadAll(t, p)
		require.Equal(t, io.EOF, err)
		assert.Equal(t, ptKeepAliveNormalize(want), ptKeepAliveNormalize(events), "round %d", round)
	}
}

// ptKeepAliveNormalize drops the PING events: where pongs and pings touch,
// "\r\n" + "\r\n\r\n" is read as a ping and a pong, so the count of pings
// depends on the neighbours; the messages must be the same.
func ptKeepAliveNormalize(events []string) []string {
	var out []string
	for _, e := range events {
		if e != "PING" {
			out = append(out, e)
		}
	}
	return out
}

// ptHeaderEndRef is the plain line loop: the first empty line ("" or "\r"
// before the LF) after the start line ends the header section.
func ptHeaderEndRef(data []byte) (int, int) {
	pos := 0
	for {
		nl := strings.IndexByte(string(data[pos:]), '\n')
		if nl < 0 {
			return -1, -1
		}
		line := string(data[pos : pos+nl])
		if pos > 0 && (line == "" || line == "\r") {
			return pos, pos + nl + 1
		}
		pos += nl + 1
	}
}

func TestHeaderEnd(t *testing.T) {
	tests := []struct {
		in                string
		hdrEnd, bodyStart int
	}{
		{"A\r\nB: 1\r\n\r\nbody", 9, 11},
		{"A\nB: 1\n\nbody", 7, 8},
		{"A\nB: 1\n\r\nbody", 7, 9},
		{"A\r\nB: 1\r\n\nbody\r\n\r\n", 9, 10},
		{"A\nB: 1\n\nbody\r\n\r\n", 7, 8},
		{"A\r\n\r\n", 3, 5},
		{"A\r\nB: 1\r\n", -1, -1},
		{"A\r\nB: 1\r\n\r", -1, -1},
		{"A\r\nB: 1\r\r\n\r\n", 10, 12},
		{"A\r\nB: 1\r\n \r\n\r\n", 12, 14},
		{"", -1, -1},
	}
	for _, tt := range tests {
		h, b := headerEnd([]byte(tt.in), 0)
		assert.Equal(t, [2]int{tt.hdrEnd, tt.bodyStart}, [2]int{h, b}, "%q", tt.in)
	}

	// Against the line loop, and resumed after any prefix that holds no end.
	rng := rand.New(rand.NewSource(3))
	alphabet := []byte("a:\r\n\n ")
	for n := 0; n < 20000; n++ {
		data := make([]byte, 1+rng.Intn(24))
		data[0] = 'S'
		for i := 1; i < len(data); i++ {
			data[i] = alphabet[rng.Intn(len(alphabet))]
		}
		wh, wb := ptHeaderEndRef(data)
		h, b := headerEnd(data, 0)
		require.Equal(t, [2]int{wh, wb}, [2]int{h, b}, "%q", data)
		for k := 1; k <= len(data); k++ {
			if ph, _ := headerEnd(data[:k], 0); ph >= 0 {
				break
			}
			h, b := headerEnd(data, max(k-2, 0))
			require.Equal(t, [2]int{wh, wb}, [2]int{h, b}, "%q resumed after %d", data, k)
		}
	}
}

func TestParserMatchesParseMessage(t *testing.T) {
	var sb strings.Builder
	var want []Message
	for i := 0; i < 60; i++ {
		for _, v := range ptValidMessages {
			m := ptParse(t, v.data)
			if _, ok := m.Headers().ContentLength(); !ok {
				continue // a stream needs Content-Length
			}
			m.Headers().Set("X-Seq", strings.Repeat("s", i%7)+string(rune('a'+i%26)))
			m.SetBody([]byte(strings.Repeat(string(rune('A'+i%26)), i)))
			want = append(want, m)
			sb.WriteString(m.String())
		}
	}
	for rname, reader := range ptReaders(sb.String()) {
		t.Run(rname, func(t *testing.T) {
			p := NewParser(reader())
			var got []Message
			for {
				m, err := p.ReadMessage()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				got = append(got, m)
			}
			// Checked after reading everything: messages do not share the
			// parser's buffer, which has been reused many times since.
			require.Len(t, got, len(want))
			for i := range want {
				require.Empty(t, ptSameMessage(want[i], got[i]), "message %d", i)
			}
		})
	}
}
