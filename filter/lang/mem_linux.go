//go:build linux

package lang

import (
	"syscall"
	"unsafe"
)

// offHeapUint32 returns n zeroed uint32s in memory of their own, outside
// the Go heap, or on the heap if the system refuses. The compact models
// (~100 MB, never freed, without pointers) would otherwise count towards
// the heap size the garbage collector lets grow to twice the live heap:
// ~100 MB more resident memory for nothing.
func offHeapUint32(n int) []uint32 {
	if n == 0 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, 4*n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]uint32, n)
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// dropPages tells the kernel that the pages wholly inside s, which is part
// of the program's read-only data (an embedded file), are not needed for
// now: they leave the resident set and are read from the executable again
// if touched. Loading the models reads all of lingua's ~128 MB of model
// files once; without this they would stay resident.
func dropPages(s string) {
	if len(s) == 0 {
		return
	}
	base := unsafe.Pointer(unsafe.StringData(s))
	page := uintptr(syscall.Getpagesize())
	addr := uintptr(base)
	start := (addr + page - 1) &^ (page - 1)
	end := (addr + uintptr(len(s))) &^ (page - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(base, start-addr)), end-start)
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED) // advice only: nothing to do if refused
}
