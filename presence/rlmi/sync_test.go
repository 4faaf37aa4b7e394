package rlmi

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestXMLTreeInSync checks that xmltree.go is the same file as
// ../pidf/xmltree.go apart from the package clause.
func TestXMLTreeInSync(t *testing.T) {
	ours, err := os.ReadFile("xmltree.go")
	require.NoError(t, err)
	theirs, err := os.ReadFile("../pidf/xmltree.go")
	require.NoError(t, err)
	require.Equal(t, strings.Replace(string(theirs), "package pidf\n", "package rlmi\n", 1), string(ours),
		"regenerate with: sed '1s/^package pidf$/package rlmi/' ../pidf/xmltree.go > xmltree.go")
}
