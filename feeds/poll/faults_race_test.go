//go:build race

package poll

import "babelfeed/internal/faultfarm"

// faultSizes under the race detector, which makes gofeed and the text
// pipeline some ten times slower: the document attacks shrink to a fifth
// (still a hundred times the caps they attack); the streamed ones (bodies,
// bombs) keep their full size, since the client stops reading them at its
// cap.
var faultSizes = faultfarm.Options{Items: 20_000, TitleSize: 200 << 10, Depth: 20_000}
