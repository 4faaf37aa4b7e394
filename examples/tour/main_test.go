package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTourRuns(t *testing.T) {
	require.NoError(t, tour(context.Background()))
}

// The README's API tour is this program's code between the markers.
func TestREADMEShowsTheTour(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	parts := strings.Split(string(src), "\t// --- tour ---\n")
	require.Len(t, parts, 3)
	var code []string
	for _, l := range strings.Split(strings.TrimRight(parts[1], "\n"), "\n") {
		code = append(code, strings.TrimPrefix(l, "\t"))
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "```go\n"+strings.Join(code, "\n")+"\n```",
		"README.md's API tour differs from examples/tour/main.go: copy the code between the markers")
}
