package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipua-go/sipua/internal/testcert"
	"github.com/sipua-go/sipua/sip"
)

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, pool, err := testcert.New()
	require.NoError(t, err)
	return cert, pool
}

func TestTLSRequestResponseWithVerification(t *testing.T) {
	cert, pool := selfSigned(t)
	srvIn, cliIn := newInbox(), newInbox()
	srv := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, srvIn.handle)
	defer srv.Close()
	addr, err := srv.ListenTLS("127.0.0.1:0")
	require.NoError(t, err)

	cli := New(Config{TLS: &tls.Config{RootCAs: pool}}, cliIn.handle)
	defer cli.Close()
	for _, name := range []string{"", "sip.example.test"} { // verified against the IP, then the name
		req := request(t, "OPTIONS", "SIP/2.0/TLS client.invalid;branch=z9hG4bKtls"+name)
		require.NoError(t, cli.Send(context.Background(), Addr{Transport: TLS, AddrPort: addr, Name: name}, req))
		in := srvIn.next(t)
		assert.Equal(t, TLS, in.Transport)
		require.NoError(t, srv.Respond(in, sip.NewResponse(in.Msg.(*sip.Request), 200, "")))
		assert.Equal(t, 200, cliIn.next(t).Msg.(*sip.Response).StatusCode)
	}
	cli.mu.Lock()
	assert.Len(t, cli.all, 1, "the TLS connection is reused whatever the name")
	cli.mu.Unlock()

	// Verification is on: a client that does not trust the certificate,
	// or asks for another name, cannot connect.
	untrusting := New(Config{}, func(*Inbound) {})
	defer untrusting.Close()
	err = untrusting.Send(context.Background(), Addr{Transport: TLS, AddrPort: addr}, request(t, "OPTIONS", "SIP/2.0/TLS x;branch=z9hG4bKu"))
	var unknownAuthority x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknownAuthority)
	wrongName := New(Config{TLS: &tls.Config{RootCAs: pool}}, func(*Inbound) {})
	defer wrongName.Close()
	err = wrongName.Send(context.Background(), Addr{Transport: TLS, AddrPort: addr, Name: "other.example.test"}, request(t, "OPTIONS", "SIP/2.0/TLS x;branch=z9hG4bKw"))
	var hostErr x509.HostnameError
	assert.ErrorAs(t, err, &hostErr)

	_, err = New(Config{}, func(*Inbound) {}).ListenTLS("127.0.0.1:0")
	assert.Error(t, err, "no certificate, no TLS listener")
}
