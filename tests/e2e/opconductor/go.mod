// Harness module for the e2e tests: builds the real op-conductor main package
// (github.com/ethereum-optimism/optimism/op-conductor/cmd) from the module proxy.
//
// The pinned optimism release is the `require` below; change the pin here and nowhere else.
// Its go-ethereum => op-geth `replace` (and its `exclude` block) are NOT copied by hand:
// tests/e2e/build_op_conductor.py reads them from the pinned module's own go.mod at build
// time and applies them to a build copy of this module, so the two can never drift.
module example.invalid/opstack-conductor-e2e

go 1.26.0

tool github.com/ethereum-optimism/optimism/op-conductor/cmd

require github.com/ethereum-optimism/optimism v1.19.0
