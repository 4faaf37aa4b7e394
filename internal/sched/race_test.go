//go:build race

package sched

// raceEnabled scales down the long-running tests under the race detector,
// which makes every lock operation about twenty times dearer.
const raceEnabled = true
