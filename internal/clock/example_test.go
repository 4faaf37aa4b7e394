package clock_test

import (
	"fmt"
	"time"

	"github.com/sipua-go/sipua/internal/clock"
)

// A fake clock runs a function started with AfterFunc inside the Advance
// call that reaches its deadline, with Now equal to that deadline.
func ExampleFake() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	c.AfterFunc(32*time.Second, func() {
		fmt.Println("timer B fired at", c.Now().Sub(start))
	})
	c.Advance(31 * time.Second)
	fmt.Println("after 31s")
	c.Advance(time.Hour)
	fmt.Println("now", c.Now().Sub(start))
	// Output:
	// after 31s
	// timer B fired at 32s
	// now 1h0m31s
}
