//go:build !race

package poll

import "babelfeed/internal/faultfarm"

// faultSizes are the farm's own defaults, the sizes of a real attack.
var faultSizes = faultfarm.Options{}
