module github.com/sipua-go/sipua

go 1.24
