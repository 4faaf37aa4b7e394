package xmltree

import (
	"bytes"
	"testing"
)

// FuzzFragment checks that Parse never panics and that the fragment of
// whatever it accepts parses again to a tree with the same fragment.
func FuzzFragment(f *testing.F) {
	f.Add([]byte(`<r xmlns="urn:d" xmlns:p="urn:p"><p:x p:a="1&amp;&#9;" b="&lt;"><y>t&#xD;</y><!-- c --><?pi b?><z xmlns=""/></p:x></r>`))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE a><a xml:lang="en">x</a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data, 32, 256)
		if err != nil {
			return
		}
		frag := n.Fragment()
		again, err := Parse(frag, 33, 256)
		if err != nil {
			t.Fatalf("fragment does not parse: %v\n%s", err, frag)
		}
		if frag2 := again.Fragment(); !bytes.Equal(frag, frag2) {
			t.Fatalf("fragment not canonical:\n%s\n%s", frag, frag2)
		}
	})
}
