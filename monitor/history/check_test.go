package history

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
)

// later is the clock of the stores opened on crafted files: the records of
// historyFile are within the retention, so Open's pruning keeps them and
// Since reads them.
var later = t0.Add(time.Hour)

// Where the tests find a meta's fields in a page (see check.go for the
// layout), and the field of a page header that counts its elements.
const (
	metaPageSize   = pageHeaderSize + metaPageSizeAt
	metaRoot       = pageHeaderSize + metaRootAt
	metaFreelist   = pageHeaderSize + metaFreelistAt
	metaPgid       = pageHeaderSize + metaPagesAt
	metaTxid       = pageHeaderSize + metaTxidAt
	metaChecksumAt = pageHeaderSize + metaSummedSize
	pageCountAt    = 10
)

// metaOffsets returns where bbolt reads the two meta pages of file: at 0 and
// at the page size the first one declares, or the default when it declares
// none that bbolt would take.
func metaOffsets(file []byte) [2]int {
	ps := 4096
	if len(file) >= metaPageSize+4 {
		if v := int(binary.LittleEndian.Uint32(file[metaPageSize:])); v >= 1024 && v <= 1<<16 && v&(v-1) == 0 {
			ps = v
		}
	}
	return [2]int{0, ps}
}

// fixChecksums recomputes the checksum of each meta page that carries bbolt's
// magic number. Without it the fuzzer, which cannot forge a checksum, would
// never get a changed meta past bbolt's first check, and the meta is where a
// file says how big it is and where everything else lies.
func fixChecksums(file []byte) {
	for _, off := range metaOffsets(file) {
		if off+metaChecksumAt+8 > len(file) || binary.LittleEndian.Uint32(file[off+pageHeaderSize:]) != boltMagic {
			continue
		}
		binary.LittleEndian.PutUint64(file[off+metaChecksumAt:], metaChecksum(file[off+pageHeaderSize:off+metaChecksumAt]))
	}
}

// currentMeta returns the offset of the meta bbolt would use: the valid one
// with the higher transaction id.
func currentMeta(file []byte) int {
	offs := metaOffsets(file)
	if binary.LittleEndian.Uint64(file[offs[1]+metaTxid:]) > binary.LittleEndian.Uint64(file[offs[0]+metaTxid:]) {
		return offs[1]
	}
	return offs[0]
}

// historyFile returns the bytes of a history file written by the store with
// the given records.
func historyFile(tb testing.TB, ms []Minute) []byte {
	tb.Helper()
	dir := tb.TempDir()
	s, err := Open(dir, Options{Now: (monitortest.NewClockAt(t0)).Now})
	if err != nil {
		tb.Fatal(err)
	}
	if len(ms) > 0 {
		mustAppend(tb, s, ms...)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, fileName))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzRecords is a few minutes of a few endpoints, one with a long id, so
// that the file has an endpoint table, records and more than one page.
func fuzzRecords(minutes, endpoints int) []Minute {
	var ms []Minute
	for i := range minutes {
		for e := range endpoints {
			id := fmt.Sprintf("meta-llama/llama-3.3-70b-instruct@provider-%d", e)
			if e == 0 {
				id = strings.Repeat("long-endpoint-id/", 40) + "@p"
			}
			ms = append(ms, record(id, t0.Add(time.Duration(i)*time.Minute), uint32(i+1)))
		}
	}
	return ms
}

// lie changes the current meta of a copy of file with set and fixes its
// checksum: a file whose meta is consistent with itself but not with the rest.
func lie(file []byte, set func(b []byte, meta int)) []byte {
	b := append([]byte(nil), file...)
	set(b, currentMeta(b))
	fixChecksums(b)
	return b
}

// hostileFiles are files that are valid as far as bbolt checks (magic,
// version, checksum) and lie about sizes and places. They are the seeds
// where a length field could make the reader allocate or loop without bound.
func hostileFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	small := historyFile(tb, fuzzRecords(3, 3))
	freelistPage := func(b []byte, meta int) int {
		ps := int(binary.LittleEndian.Uint32(b[meta+metaPageSize:]))
		return int(binary.LittleEndian.Uint64(b[meta+metaFreelist:])) * ps
	}
	return map[string][]byte{
		// A freelist that claims 2^29 free pages: 4 GiB of page ids.
		"freelist claims 4 GiB": lie(small, func(b []byte, meta int) {
			p := freelistPage(b, meta)
			binary.LittleEndian.PutUint16(b[p+pageCountAt:], countEscape)
			binary.LittleEndian.PutUint64(b[p+pageHeaderSize:], 1<<29)
		}),
		// The plain count field's largest value, on a page too small for it.
		"freelist count 0xfffe": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint16(b[freelistPage(b, meta)+pageCountAt:], 0xFFFE)
		}),
		// No freelist: bbolt rebuilds it by walking every page up to the page
		// count, which claims 2^40 pages.
		"no freelist and 2^40 pages": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint64(b[meta+metaFreelist:], noFreelist)
			binary.LittleEndian.PutUint64(b[meta+metaPgid:], 1<<40)
		}),
		"no freelist": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint64(b[meta+metaFreelist:], noFreelist)
		}),
		"page count past the file": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint64(b[meta+metaPgid:], 1<<40)
		}),
		"freelist past the file": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint64(b[meta+metaFreelist:], 1<<20)
			binary.LittleEndian.PutUint64(b[meta+metaPgid:], 1<<21)
		}),
		"root past the file": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint64(b[meta+metaRoot:], 1<<20)
			binary.LittleEndian.PutUint64(b[meta+metaPgid:], 1<<21)
		}),
		"page size 1 GiB": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint32(b[meta+metaPageSize:], 1<<30)
		}),
		"page size 16": lie(small, func(b []byte, meta int) {
			binary.LittleEndian.PutUint32(b[meta+metaPageSize:], 16)
		}),
		"overflow of 2^31 pages on the root": lie(small, func(b []byte, meta int) {
			ps := int(binary.LittleEndian.Uint32(b[meta+metaPageSize:]))
			root := int(binary.LittleEndian.Uint64(b[meta+metaRoot:])) * ps
			binary.LittleEndian.PutUint32(b[root+12:], 1<<31)
		}),
	}
}

// A file whose meta is valid (magic, version, checksum) but whose sizes and
// page numbers do not fit the file is refused with advice, in bounded memory.
// Before checkFile, the freelist that claims 4 GiB made Open allocate 4 GiB,
// and a file without a freelist that claims 2^40 pages took the process to
// tens of GB until the kernel killed it.
func TestOpenRefusesFilesThatLie(t *testing.T) {
	for name, file := range hostileFiles(t) {
		t.Run(name, func(t *testing.T) {
			path, allocated, err := openBytes(t, file, func(dir string) error {
				s, err := Open(dir, Options{Now: func() time.Time { return later }})
				if err == nil {
					s.Close()
				}
				return err
			})
			if err == nil {
				t.Fatal("Open accepted the file")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
				t.Errorf("error %q should name %s and say to move it aside", err, path)
			}
			if allocated > 1<<20 {
				t.Errorf("Open allocated %d bytes for a %d-byte file", allocated, len(file))
			}
		})
	}
}

// openBytes writes file as the history file of a new directory and calls
// open with the directory. It returns the file's path, the bytes allocated
// during open, and open's error.
func openBytes(t *testing.T, file []byte, open func(dir string) error) (path string, allocated uint64, err error) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, fileName)
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = open(dir)
	runtime.ReadMemStats(&after)
	return path, after.TotalAlloc - before.TotalAlloc, err
}

// The check reads every page of a real file, and passes it.
func TestCheckPassesRealFiles(t *testing.T) {
	_, path := filled(t)
	if err := checkFile(path); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fileName), historyFile(t, fuzzRecords(30, 12)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkFile(filepath.Join(dir, fileName)); err != nil {
		t.Fatal(err)
	}
}
