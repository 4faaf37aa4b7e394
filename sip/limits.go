package sip

// Default limits. They are generous for real traffic and small enough that a
// hostile peer cannot make the parser hold much memory.
const (
	DefaultMaxMessageSize  = 64 << 10 // 65,536 bytes: the largest UDP datagram
	DefaultMaxHeaders      = 256
	DefaultMaxHeaderLength = 8 << 10 // 8,192 bytes per unfolded header line
	DefaultMaxURILength    = 4 << 10 // 4,096 bytes
	DefaultMaxBodySize     = 64 << 10
)

// Limits bounds what the parser accepts. The zero value of each field means
// the matching Default constant; a negative value means no limit.
type Limits struct {
	MaxMessageSize  int // whole message, start line to end of body
	MaxHeaders      int // number of header fields
	MaxHeaderLength int // one header line after unfolding
	MaxURILength    int // Request-URI and URIs inside header fields
	MaxBodySize     int // body bytes (the Content-Length)
}

func limitOr(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 1)
	}
	return v
}

func (l Limits) resolved() Limits {
	return Limits{
		MaxMessageSize:  limitOr(l.MaxMessageSize, DefaultMaxMessageSize),
		MaxHeaders:      limitOr(l.MaxHeaders, DefaultMaxHeaders),
		MaxHeaderLength: limitOr(l.MaxHeaderLength, DefaultMaxHeaderLength),
		MaxURILength:    limitOr(l.MaxURILength, DefaultMaxURILength),
		MaxBodySize:     limitOr(l.MaxBodySize, DefaultMaxBodySize),
	}
}
