package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's meta page, as it lays it out after the 16-byte page header, in
// the machine's byte order: magic, version, page size, flags (4 bytes
// each), root bucket (page, sequence), freelist page, high-water page,
// transaction ID, then an FNV-64a checksum of the 56 bytes before it.
const (
	boltMagic       = 0xED0CDAED
	boltPageHeader  = 16
	boltMetaSumOff  = 56
	boltMetaPgidOff = 40
	boltMetaTxidOff = 48
)

// checkFileLength refuses a bbolt file shorter than the pages its newest
// valid meta page says are in use, before bbolt maps it: reading a page
// past the end of a mapped file is a SIGBUS, which kills the process
// instead of returning an error (a store cut short by a partial copy or a
// full disk during a copy). A file whose meta pages do not validate is
// left to bbolt, which refuses it without reading further.
func checkFileLength(path string, size int64) error {
	if size == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var best struct {
		ok         bool
		txid, need uint64
	}
	consider := func(off int64) uint32 {
		buf := make([]byte, boltPageHeader+boltMetaSumOff+8)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return 0
		}
		m := buf[boltPageHeader:]
		ne := binary.NativeEndian
		h := fnv.New64a()
		h.Write(m[:boltMetaSumOff])
		if ne.Uint32(m[0:]) != boltMagic || h.Sum64() != ne.Uint64(m[boltMetaSumOff:]) {
			return 0
		}
		pageSize := ne.Uint32(m[8:])
		need := ne.Uint64(m[boltMetaPgidOff:]) * uint64(pageSize)
		if txid := ne.Uint64(m[boltMetaTxidOff:]); !best.ok || txid > best.txid {
			best.ok, best.txid, best.need = true, txid, need
		}
		return pageSize
	}
	if ps := consider(0); ps != 0 {
		consider(int64(ps))
	} else {
		// The first meta page is damaged: look for the second one at
		// the system's page size and at the one babelfeed writes.
		consider(int64(os.Getpagesize()))
		consider(pageSize)
	}
	if best.ok && uint64(size) < best.need {
		return fmt.Errorf("%w: damaged: the file is %d bytes but its data needs %d (cut short, say by an interrupted copy)", ErrNotStore, size, best.need)
	}
	return nil
}
