module github.com/sipua-go/sipua

go 1.24.0

require (
	github.com/coder/websocket v1.8.15
	github.com/pion/sdp/v3 v3.0.20
	github.com/stretchr/testify v1.12.1
	golang.org/x/net v0.50.0
)

require (
	github.com/pion/randutil v0.1.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
