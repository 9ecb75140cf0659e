// Package layout holds the module's layout rules as tests: packages under
// cmd/ are commands (package main) that read flags and wire libraries, and
// nothing imports a path under cmd/. It has no code of its own.
package layout
