// Package browsertest drives the dashboard's page in real headless Chromium
// (through chromedp): it renders, streams, charts, filters and its controls
// work. It is a module of its own so that the browser driver never enters
// the core module's requirements; it holds tests only.
package browsertest
