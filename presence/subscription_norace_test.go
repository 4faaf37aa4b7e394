//go:build !race

package presence

const subRaceEnabled = false
