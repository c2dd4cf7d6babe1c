package history

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Since returns every record with Start >= t, ordered by Start and then Endpoint.
func (s *Store) Since(t time.Time) ([]Minute, error) {
	var out []Minute
	err := guard(func() error {
		return s.db.View(func(tx *bbolt.Tx) error {
			var err error
			out, err = scan(tx, firstMinuteAtOrAfter(t))
			return err
		})
	})
	if err != nil {
		return nil, s.fail("reading records since "+t.Format(time.RFC3339)+" from", err)
	}
	return out, nil
}

// scan reads the records from unix minute from onwards. Keys order a minute's records by endpoint number;
// they are re-sorted by id only when the numbers are not already in id order.
func scan(tx *bbolt.Tx, from uint64) ([]Minute, error) {
	minutes, endpoints := tx.Bucket(bucketMinutes), tx.Bucket(bucketEndpoints)
	if minutes == nil || endpoints == nil {
		return nil, corrupt("a bucket is missing")
	}
	if from > math.MaxUint32 {
		return nil, nil
	}
	names, err := endpointNames(endpoints)
	if err != nil {
		return nil, err
	}
	index := endpointIndex(names)
	c := minutes.Cursor()
	seek := binary.BigEndian.AppendUint32(nil, uint32(from))
	// Counting first costs a walk over the keys and saves growing the result: a day is 72k records of 120 bytes,
	// and append's growth would allocate and copy several times that.
	count := 0
	for k, _ := c.Seek(seek); k != nil; k, _ = c.Next() {
		count++
	}
	var (
		out     = make([]Minute, 0, count)
		errs    arena
		group   byRank // the current minute's records
		first   int    // index in out of the current minute's first record
		current uint32
	)
	for k, v := c.Seek(seek); k != nil; k, v = c.Next() {
		m, num, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		ep, ok := index[num]
		if !ok {
			return nil, corrupt("record at %s names endpoint number %d, which is not in the endpoint table", minuteStart(m).Format(time.RFC3339), num)
		}
		if len(out) == 0 || m != current {
			group.sort(out[first:])
			current, first, group = m, len(out), byRank{ranks: group.ranks[:0]}
		}
		out = append(out, Minute{Endpoint: ep.id, Start: minuteStart(m)})
		if err := decodeValue(v, &out[len(out)-1], &errs); err != nil {
			return nil, fmt.Errorf("record of %q at %s: %w", ep.id, minuteStart(m).Format(time.RFC3339), err)
		}
		group.add(ep.rank)
	}
	group.sort(out[first:])
	return out, nil
}

// byRank sorts one minute's records by their endpoints' ranks in id order.
type byRank struct {
	ms       []Minute
	ranks    []int
	unsorted bool
}

func (g *byRank) add(rank int) {
	if n := len(g.ranks); n > 0 && rank < g.ranks[n-1] {
		g.unsorted = true
	}
	g.ranks = append(g.ranks, rank)
}

func (g *byRank) sort(ms []Minute) {
	if g.unsorted {
		g.ms = ms
		sort.Sort(g)
	}
}

func (g *byRank) Len() int           { return len(g.ranks) }
func (g *byRank) Less(i, j int) bool { return g.ranks[i] < g.ranks[j] }
func (g *byRank) Swap(i, j int) {
	g.ranks[i], g.ranks[j] = g.ranks[j], g.ranks[i]
	g.ms[i], g.ms[j] = g.ms[j], g.ms[i]
}
