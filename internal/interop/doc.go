// Package interop runs sipua against real third-party SIP peers (SIPp now;
// Kamailio next) on 127.0.0.1. The tests skip when a peer is not installed,
// except under CI=true, where a missing peer is a failure: .ci/run installs
// them (Debian package sip-tester for SIPp).
package interop
