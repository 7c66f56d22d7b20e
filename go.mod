module github.com/whizbang-go/whizbang

go 1.25
