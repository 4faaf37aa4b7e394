// Package peerbench compares sipua with github.com/emiago/sipgo v1.7.2, the
// independent Go SIP stack used as the project's baseline, on the same
// inputs and in the same run. It is a nested module so that the library's
// go.mod never depends on a peer.
//
// Run from this directory:
//
//	go test -run '^$' -bench . -benchmem -count 5
package peerbench
