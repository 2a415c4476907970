//go:build !linux

package lang

// offHeapUint32 returns n zeroed uint32s (on the heap on this system).
func offHeapUint32(n int) []uint32 { return make([]uint32, n) }

// dropPages does nothing on this system.
func dropPages(string) {}
