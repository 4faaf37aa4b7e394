//go:build race

package presence

const subRaceEnabled = true
