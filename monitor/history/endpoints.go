package history

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// Endpoint ids are 30 to 60 bytes and would repeat in each of half a million keys, so the "endpoints" bucket
// numbers them once (key: uvarint number, value: id) and record keys carry the number. Numbers come from the
// bucket's sequence and are never reused. The table is read whole in every transaction that needs it: it holds
// one short entry per endpoint ever seen, a few hundred at most, and reading it inside the transaction keeps it
// consistent with the records without a cache to keep in step.

// endpointNames reads the table as number -> id.
func endpointNames(b *bbolt.Bucket) (map[uint64]string, error) {
	names := make(map[uint64]string)
	err := b.ForEach(func(k, v []byte) error {
		num, n := binary.Uvarint(k)
		if n <= 0 || n != len(k) || len(v) == 0 {
			return corrupt("endpoint table entry % x", k)
		}
		names[num] = string(v)
		return nil
	})
	return names, err
}

// endpointNumbers returns the number of every id in ids, adding the ones the table lacks. New ids are numbered
// in sorted order: Since sorts each minute by id, and a table numbered in id order spares it the sort.
func endpointNumbers(b *bbolt.Bucket, ids []string) (map[string]uint64, error) {
	names, err := endpointNames(b)
	if err != nil {
		return nil, err
	}
	nums := make(map[string]uint64, len(names)+len(ids))
	for num, id := range names {
		nums[id] = num
	}
	var fresh []string
	for _, id := range ids {
		if _, ok := nums[id]; !ok {
			nums[id] = 0 // placeholder so a repeated id is added once
			fresh = append(fresh, id)
		}
	}
	slices.Sort(fresh)
	for _, id := range fresh {
		num, err := b.NextSequence()
		if err != nil {
			return nil, fmt.Errorf("numbering endpoint %q: %w", id, err)
		}
		if err := b.Put(binary.AppendUvarint(nil, num), []byte(id)); err != nil {
			return nil, fmt.Errorf("adding endpoint %q: %w", id, err)
		}
		nums[id] = num
	}
	return nums, nil
}

// endpoint is what Since needs per number: the id, and its position in id order for sorting within a minute.
type endpoint struct {
	id   string
	rank int
}

// endpointIndex turns the table into number -> endpoint with ranks in id order.
func endpointIndex(names map[uint64]string) map[uint64]endpoint {
	nums := make([]uint64, 0, len(names))
	for num := range names {
		nums = append(nums, num)
	}
	slices.SortFunc(nums, func(a, b uint64) int { return strings.Compare(names[a], names[b]) })
	index := make(map[uint64]endpoint, len(nums))
	for rank, num := range nums {
		index[num] = endpoint{id: names[num], rank: rank}
	}
	return index
}
