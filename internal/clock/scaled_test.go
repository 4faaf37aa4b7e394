package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestScaled(t *testing.T) {
	c := Scaled(100)
	t0 := c.Now()
	start := time.Now()
	tm := c.NewTimer(2 * time.Second) // 20 ms of real time
	<-tm.C()
	real := time.Since(start)
	assert.GreaterOrEqual(t, real, 20*time.Millisecond)
	assert.Less(t, real, time.Second)
	assert.GreaterOrEqual(t, c.Now().Sub(t0), 2*time.Second, "the scaled clock reached the deadline")
	assert.False(t, tm.Stop())
	assert.False(t, tm.Reset(time.Hour))
	assert.True(t, tm.Stop())
	assert.Equal(t, Scaled(0).(*scaled).factor, 1.0)
}
