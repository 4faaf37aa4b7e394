// Package interop runs sipua against real third-party SIP peers on
// 127.0.0.1: SIPp (scenarios in sipp/) and Kamailio (a registrar of our own,
// kamailio/registrar.cfg, started per test on a free port with a fresh
// sqlite database). The tests skip when a peer is not installed, except
// under CI=true, where a missing peer is a failure: .ci/run installs them
// with .ci/install-peers.sh.
package interop
