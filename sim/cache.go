package sim

import (
	"crypto/sha256"
	"sync"
)

// maxCached bounds the prefixes a server remembers; past it, it forgets
// them all, as a provider's cache is emptied.
const maxCached = 10_000

// promptCache is a provider's prompt cache: it remembers every prefix of
// the prompts it was sent, at message boundaries, and a prompt that begins
// with one it saw is read from it as far as that prefix goes. So the turns
// of a conversation sent to the same server find its earlier turns cached,
// and another server has nothing.
type promptCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]bool
}

// read returns how many of msgs' prompt tokens come from the cache (the
// longest prefix seen before, at least one message short of the whole), and
// remembers every prefix of msgs.
func (c *promptCache) read(msgs []message) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil || len(c.seen) > maxCached {
		c.seen = map[[sha256.Size]byte]bool{}
	}
	h := sha256.New()
	cached := 0
	for i, m := range msgs {
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.promptText()))
		h.Write([]byte{0})
		var key [sha256.Size]byte
		h.Sum(key[:0])
		if c.seen[key] && i < len(msgs)-1 {
			cached = countPromptTokens(msgs[:i+1])
		}
		c.seen[key] = true
	}
	return cached
}
