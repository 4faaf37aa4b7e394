package im_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sipua-go/sipua/im"
	"github.com/sipua-go/sipua/sip"
	"github.com/sipua-go/sipua/sip/ua"
)

// BenchmarkPagerLoopback measures pager-mode messages per second between
// two UAs on loopback UDP: each op is one MESSAGE sent, answered 200 and
// delivered to the receiver's handler. "serial" is one sender waiting for
// each answer; "parallel" keeps GOMAXPROCS×16 MESSAGE transactions in
// flight.
func BenchmarkPagerLoopback(b *testing.B) {
	ctx := context.Background()
	bobUA, err := ua.New(ua.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer bobUA.Close(ctx)
	var delivered atomic.Int64
	if _, err := im.NewPager(im.PagerConfig{UA: bobUA, OnMessage: func(*im.Message) { delivered.Add(1) }}); err != nil {
		b.Fatal(err)
	}
	aliceUA, err := ua.New(ua.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer aliceUA.Close(ctx)
	alice, err := im.NewPager(im.PagerConfig{UA: aliceUA, Target: bobUA.Addrs()[0],
		From: sip.Address{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.test"}}})
	if err != nil {
		b.Fatal(err)
	}
	bob := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: int(bobUA.Addrs()[0].AddrPort.Port())}
	body := []byte("a short instant message of typical length")

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := alice.Send(ctx, bob, im.TextPlain, body); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := alice.Send(ctx, bob, im.TextPlain, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
