module github.com/whizbang-go/whizbang

go 1.25

require (
	github.com/fsnotify/fsnotify v1.10.1
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.13.0 // indirect
