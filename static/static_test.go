package static

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// htmxSHA256 pins the vendored htmx.org 2.0.11 dist/htmx.min.js from the npm registry.
const htmxSHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"

func TestVendoredHTMXIsThePinnedVersion(t *testing.T) {
	b, err := FS.ReadFile("htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != htmxSHA256 {
		t.Fatalf("static/htmx.min.js: want SHA-256 %s (htmx.org 2.0.11), got %s", htmxSHA256, got)
	}
}
