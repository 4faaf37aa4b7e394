package pidf

import (
	"testing"
	"time"
)

var benchTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// typical is what a softphone or gateway publishes: one tuple, one person
// with an activity, a note and a display name.
func typical() *Document {
	d := New("sip:alice@example.test").Open().Contact("sip:alice@192.0.2.10:5060").
		Activity(OnThePhone).Note("in a call").DisplayName("Alice Example")
	d.Tuples[0].Timestamp = benchTime
	return d
}

func BenchmarkParse(b *testing.B) {
	data, err := typical().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLegacy(b *testing.B) {
	data := []byte(audioCodesLegacy)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	d := typical()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
