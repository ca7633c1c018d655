// Package static holds the vendored front-end files served under /static/.
package static

import "embed"

// FS holds htmx, the stylesheet and icons.
//
//go:embed *.js *.css *.svg
var FS embed.FS
