package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// tally counts the outcomes, by kind of request.
type tally struct {
	mu       sync.Mutex
	by       map[string]*[outcomes]int // kind -> counts
	tools    map[string]*[outcomes]int // scenario's tools -> counts, for those that use them
	total    [outcomes]int
	errTypes map[string]int // "status type" of clean errors
	examples []string       // the first few failures, with what was sent
}

// maxExamples is how many failures are described in full.
const maxExamples = 10

func newTally() *tally {
	return &tally{by: map[string]*[outcomes]int{}, tools: map[string]*[outcomes]int{}, errTypes: map[string]int{}}
}

func (t *tally) add(sc *scenario, r result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	count(t.by, sc.kind, r.outcome)
	if sc.tools != "" {
		count(t.tools, sc.tools, r.outcome)
	}
	t.total[r.outcome]++
	switch r.outcome {
	case cleanError:
		t.errTypes[fmt.Sprintf("%d %s", r.status, r.errType)]++
	case hung, truncated, lost:
		if len(t.examples) < maxExamples {
			t.examples = append(t.examples, fmt.Sprintf("%s: %s [%s, status %d]: %s", outcomeNames[r.outcome], sc.kind, sc.options, r.status, r.detail))
		}
	}
}

// count counts o under key in counts.
func count(counts map[string]*[outcomes]int, key string, o outcome) {
	c := counts[key]
	if c == nil {
		c = new([outcomes]int)
		counts[key] = c
	}
	c[o]++
}

// sent is how many requests have finished, whatever their outcome.
func (t *tally) sent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.total {
		n += c
	}
	return n
}

func (t *tally) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "\nrequests (client side)\n%-18s %7s", "", "sent")
	for _, name := range outcomeNames {
		fmt.Fprintf(w, " %11s", name)
	}
	fmt.Fprintln(w)
	row := func(name string, c *[outcomes]int) {
		n := 0
		for _, v := range c {
			n += v
		}
		fmt.Fprintf(w, "%-18s %7d", name, n)
		for _, v := range c {
			fmt.Fprintf(w, " %11d", v)
		}
		fmt.Fprintln(w)
	}
	for _, k := range slices.Sorted(maps.Keys(t.by)) {
		row(k, t.by[k])
	}
	row("total", &t.total)
	// The requests that offer a tool, of every kind above.
	for _, k := range slices.Sorted(maps.Keys(t.tools)) {
		row("with "+k, t.tools[k])
	}
	if len(t.errTypes) > 0 {
		var types []string
		for k, v := range t.errTypes {
			types = append(types, fmt.Sprintf("%s x%d", k, v))
		}
		sort.Strings(types)
		fmt.Fprintf(w, "clean errors by status and type: %s\n", strings.Join(types, ", "))
	}
	for _, e := range t.examples {
		fmt.Fprintln(w, "  ", e)
	}
}

// failures says what in the counts fails the soak.
func (t *tally) failures() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, o := range []outcome{lost, hung, truncated} {
		if n := t.total[o]; n > 0 {
			out = append(out, fmt.Sprintf("%d requests %s", n, outcomeNames[o]))
		}
	}
	if t.total[answered] == 0 {
		out = append(out, "no request was answered")
	}
	return out
}
