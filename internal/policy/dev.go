package policy

import _ "embed"

// Dev is the development policy that `capstream serve --dev` (and so `make
// run`) uses when no --policy is given: role analyst may run every bundled
// tool, reach a few public test APIs and keep notes; role guest may run echo,
// whoami and slow with tight limits. It is not meant for production.
//
//go:embed dev.yaml
var Dev []byte
