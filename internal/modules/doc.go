// Package modules holds the tests of the repository's module layout: the
// core module requires nothing heavy, and an application that imports only
// core packages gets no store client, exporter or browser driver into its
// go.sum. It has no code of its own.
package modules
