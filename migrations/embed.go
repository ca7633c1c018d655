// Package migrations holds the numbered SQL migrations, embedded into the binary.
// Released files are never edited: add a new file instead.
package migrations

import "embed"

// FS holds every *.sql migration, applied in file-name order.
//
//go:embed *.sql
var FS embed.FS
