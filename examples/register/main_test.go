package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUsage(t *testing.T) {
	args := os.Args
	defer func() { os.Args = args }()
	os.Args = []string{"register", "-h"}
	assert.NoError(t, run(), "-h prints usage and succeeds")
	os.Args = []string{"register"}
	assert.Error(t, run(), "-registrar and -user are required")
	os.Args = []string{"register", "-registrar", "127.0.0.1:5060", "-user", "sip:alice@example.test", "-fallback", "sometimes"}
	assert.ErrorContains(t, run(), "-fallback")
}
