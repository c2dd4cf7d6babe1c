package history

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"os"
)

// bbolt trusts the sizes and page numbers a file states: a freelist page
// that claims 2^29 free pages makes it allocate 4 GiB, and a file that
// claims 2^40 pages and keeps no freelist makes it walk every one of them,
// in a goroutine of its own that guard cannot cover, until the process runs
// out of memory. checkFile reads what bbolt would trust, before bbolt does,
// and refuses a file whose numbers do not fit inside it. Its own work is
// bounded by the file's size: each page is read once.
//
// The layout, from bbolt's internal/common (little-endian on every platform
// Switchboard builds for): a page starts with a 16-byte header (id uint64,
// flags uint16, count uint16, overflow uint32: the pages that follow it);
// pages 0 and 1 each hold a meta (magic, version, page size, flags, the
// root bucket's page and sequence, the freelist's page, the page count, the
// transaction id, and an FNV-64a checksum of what precedes it); a branch
// page's elements are (pos, ksize uint32, child page uint64), a leaf's
// (flags, pos, ksize, vsize uint32), pos counting from the element itself;
// a bucket's value is its root page and sequence, followed, when the root is
// 0, by the bucket's own page inline.
const (
	pageHeaderSize  = 16
	elementSize     = 16 // branch and leaf elements alike
	bucketValueSize = 16

	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01

	boltMagic   = 0xED0CDAED
	boltVersion = 2
	noFreelist  = ^uint64(0)
	countEscape = 0xFFFF // a freelist count this high is stored in the first element instead

	// Where a meta's fields are, from the end of its page header.
	metaPageSizeAt = 8
	metaRootAt     = 16
	metaFreelistAt = 32
	metaPagesAt    = 40
	metaTxidAt     = 48
	metaSummedSize = 56 // the fields before the checksum, which follows them

	minPageSize = 512
	maxPageSize = 64 << 10
	// maxDepth bounds the tree: a history of years is four or five levels.
	maxDepth = 64
)

// boltMeta is the part of a meta page checkFile needs.
type boltMeta struct {
	pageSize uint64
	root     uint64
	freelist uint64
	pages    uint64 // the high water mark: pages 0 to pages-1 are in use or free
	txid     uint64
}

// readMeta reads the meta of the page at off; ok is false when it is not
// one bbolt accepts (magic, version and checksum).
func readMeta(f io.ReaderAt, off int64) (m boltMeta, ok bool) {
	var b [pageHeaderSize + metaSummedSize + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return m, false
	}
	meta := b[pageHeaderSize:]
	if binary.LittleEndian.Uint32(meta[0:]) != boltMagic || binary.LittleEndian.Uint32(meta[4:]) != boltVersion ||
		binary.LittleEndian.Uint64(meta[metaSummedSize:]) != metaChecksum(meta[:metaSummedSize]) {
		return m, false
	}
	return boltMeta{
		pageSize: uint64(binary.LittleEndian.Uint32(meta[metaPageSizeAt:])),
		root:     binary.LittleEndian.Uint64(meta[metaRootAt:]),
		freelist: binary.LittleEndian.Uint64(meta[metaFreelistAt:]),
		pages:    binary.LittleEndian.Uint64(meta[metaPagesAt:]),
		txid:     binary.LittleEndian.Uint64(meta[metaTxidAt:]),
	}, true
}

// metaChecksum is bbolt's checksum of a meta's fields.
func metaChecksum(fields []byte) uint64 {
	h := fnv.New64a()
	h.Write(fields)
	return h.Sum64()
}

// checkFile checks the file at path as described above. A file that is
// missing, empty or has no meta bbolt accepts passes: bbolt creates the first
// two and refuses the last with an error of its own. A file that cannot be
// read passes too, for bbolt to report. The caller must hold a lock that
// keeps other processes from writing the file.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	// bbolt finds the page size in the first meta, else in the second, which
	// it looks for at every power of two from 1 KiB to 16 MiB.
	first, ok := readMeta(f, 0)
	pageSize := first.pageSize
	for i := 0; !ok && i <= 14; i++ {
		var m boltMeta
		if m, ok = readMeta(f, 1024<<i); ok {
			pageSize = m.pageSize
		}
	}
	if !ok {
		return nil
	}
	if pageSize < minPageSize || pageSize > maxPageSize || pageSize&(pageSize-1) != 0 {
		return corrupt("its page size %d is not a power of two from %d to %d", pageSize, minPageSize, maxPageSize)
	}
	c := &checker{f: f, pageSize: pageSize, filePages: uint64(fi.Size()) / pageSize}
	// bbolt uses the meta with the higher transaction id, else the other;
	// both must fit the file.
	var cur *boltMeta
	for i, off := range []int64{0, int64(pageSize)} {
		m, ok := readMeta(f, off)
		if !ok {
			continue
		}
		if err := c.checkMeta(i, &m); err != nil {
			return err
		}
		if cur == nil || m.txid > cur.txid {
			cur = &m
		}
	}
	if cur == nil {
		return nil
	}
	c.pages = cur.pages
	if err := c.checkFreelist(cur.freelist); err != nil {
		return err
	}
	c.seen = make(map[uint64]bool)
	return c.checkTree(cur.root, 0)
}

// checker reads the pages of one file.
type checker struct {
	f         io.ReaderAt
	pageSize  uint64
	filePages uint64 // whole pages in the file
	pages     uint64 // the current meta's page count
	seen      map[uint64]bool
}

func (c *checker) checkMeta(i int, m *boltMeta) error {
	switch {
	case m.pageSize != c.pageSize:
		return corrupt("meta page %d has page size %d, the other %d", i, m.pageSize, c.pageSize)
	case m.pages > c.filePages:
		return corrupt("meta page %d counts %d pages of %d bytes, but the file holds %d: it was truncated", i, m.pages, c.pageSize, c.filePages)
	case m.freelist == noFreelist:
		// Switchboard always writes the freelist; without it bbolt would
		// rebuild it from every page, out of guard's reach.
		return corrupt("it keeps no freelist, which Switchboard always writes")
	case m.freelist < 2 || m.freelist >= m.pages || m.root < 2 || m.root >= m.pages:
		return corrupt("meta page %d puts the freelist at page %d and the root at page %d, outside pages 2 to %d", i, m.freelist, m.root, m.pages-1)
	}
	return nil
}

// page reads page id with its overflow, checking that it lies within the
// meta's page count and holds count elements of elementSize.
func (c *checker) page(id uint64, flags ...uint16) ([]byte, error) {
	var h [pageHeaderSize]byte
	if _, err := c.f.ReadAt(h[:], int64(id*c.pageSize)); err != nil {
		return nil, corrupt("reading page %d: %v", id, err)
	}
	overflow := uint64(binary.LittleEndian.Uint32(h[12:]))
	if got := binary.LittleEndian.Uint64(h[0:]); got != id {
		return nil, corrupt("page %d says it is page %d", id, got)
	}
	if id+overflow >= c.pages {
		return nil, corrupt("page %d runs %d pages on, past the last page %d", id, overflow, c.pages-1)
	}
	if f := binary.LittleEndian.Uint16(h[8:]); !containsFlag(flags, f) {
		return nil, corrupt("page %d has type %#x, want %#x", id, f, flags)
	}
	b := make([]byte, (overflow+1)*c.pageSize)
	if _, err := c.f.ReadAt(b, int64(id*c.pageSize)); err != nil {
		return nil, corrupt("reading page %d: %v", id, err)
	}
	return b, nil
}

func containsFlag(flags []uint16, f uint16) bool {
	for _, want := range flags {
		if f == want {
			return true
		}
	}
	return false
}

// checkFreelist checks that the freelist's count fits its pages and that
// every free page is one of the file's.
func (c *checker) checkFreelist(id uint64) error {
	b, err := c.page(id, freelistPage)
	if err != nil {
		return err
	}
	ids := b[pageHeaderSize:]
	count := uint64(binary.LittleEndian.Uint16(b[10:]))
	if count == countEscape {
		if len(ids) < 8 {
			return corrupt("the freelist on page %d is cut short", id)
		}
		count, ids = binary.LittleEndian.Uint64(ids), ids[8:]
	}
	if count > uint64(len(ids)/8) {
		return corrupt("the freelist on page %d lists %d pages, but its %d bytes hold %d", id, count, len(b), len(ids)/8)
	}
	for i := range count {
		if free := binary.LittleEndian.Uint64(ids[i*8:]); free < 2 || free >= c.pages {
			return corrupt("the freelist on page %d lists page %d, outside pages 2 to %d", id, free, c.pages-1)
		}
	}
	return nil
}

// checkTree checks the branch or leaf page id and everything under it: each
// page once, every element inside its page, every child and bucket root one
// of the file's pages.
func (c *checker) checkTree(id uint64, depth int) error {
	if depth > maxDepth {
		return corrupt("the tree is deeper than %d pages at page %d", maxDepth, id)
	}
	if c.seen[id] {
		return corrupt("page %d is reached twice", id)
	}
	c.seen[id] = true
	b, err := c.page(id, branchPage, leafPage)
	if err != nil {
		return err
	}
	return c.checkElements(b, id, depth)
}

// checkElements checks the elements of page b (id, for messages), read from
// the file or inline in a bucket's value.
func (c *checker) checkElements(b []byte, id uint64, depth int) error {
	flags := binary.LittleEndian.Uint16(b[8:])
	count := uint64(binary.LittleEndian.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(b)) {
		return corrupt("page %d has %d elements, more than its %d bytes hold", id, count, len(b))
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := b[at : at+elementSize]
		if flags == branchPage {
			pos, ksize := uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
			if at+pos+ksize > uint64(len(b)) {
				return corrupt("element %d of page %d lies outside it", i, id)
			}
			child := binary.LittleEndian.Uint64(e[8:])
			if child < 2 || child >= c.pages {
				return corrupt("element %d of page %d points to page %d, outside pages 2 to %d", i, id, child, c.pages-1)
			}
			if err := c.checkTree(child, depth+1); err != nil {
				return err
			}
			continue
		}
		leafFlags := binary.LittleEndian.Uint32(e[0:])
		pos, ksize, vsize := uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		end := at + pos + ksize + vsize
		if end > uint64(len(b)) {
			return corrupt("element %d of page %d lies outside it", i, id)
		}
		if leafFlags&bucketLeaf == 0 {
			continue
		}
		value := b[end-vsize : end]
		if len(value) < bucketValueSize {
			return corrupt("bucket %d of page %d is %d bytes, too short", i, id, len(value))
		}
		root := binary.LittleEndian.Uint64(value)
		if root != 0 {
			if root < 2 || root >= c.pages {
				return corrupt("bucket %d of page %d has its root at page %d, outside pages 2 to %d", i, id, root, c.pages-1)
			}
			if err := c.checkTree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := value[bucketValueSize:]
		if len(inline) < pageHeaderSize || binary.LittleEndian.Uint16(inline[8:]) != leafPage {
			return corrupt("bucket %d of page %d holds no leaf page inline", i, id)
		}
		if depth+1 > maxDepth {
			return corrupt("the tree is deeper than %d pages at page %d", maxDepth, id)
		}
		if err := c.checkElements(inline, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}
