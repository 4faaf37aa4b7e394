//go:build race

package presence

// raceEnabled reports a -race build: the race detector allows at most
// 8,128 live goroutines, so scale tests run smaller.
const raceEnabled = true
