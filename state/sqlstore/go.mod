module github.com/whizbang-go/whizbang/state/sqlstore

go 1.25

require (
	github.com/whizbang-go/whizbang v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

replace github.com/whizbang-go/whizbang => ../..
