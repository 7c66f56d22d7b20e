module github.com/whizbang-go/whizbang/dashboard/browsertest

// go 1.26: a screenshot goes to testing.T.ArtifactDir when WHIZBANG_ARTIFACTS
// is not set (chromedp itself needs 1.25).
go 1.26.0

// Developed beside the core module: this tree's packages, not a release.
replace github.com/whizbang-go/whizbang => ../..

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/whizbang-go/whizbang v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)
