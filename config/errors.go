package config

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Pos is a place in a configuration file. Line and Col start at 1; Col counts
// bytes, as Go's own compiler positions and TOML parse errors do.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col.
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in a configuration file: where it is, what is wrong and
// what to write instead. Messages never contain a secret.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the problem as file:line:col: message.
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// maxMessage bounds a problem's message, in bytes. Messages quote the file
// (a value, a key's name, the text where the syntax breaks), and a file can
// hold a value of any length.
const maxMessage = 600

// clip shortens a message longer than maxMessage in the middle, where a long
// quote is: its start says what is wrong and where, its end what to write
// instead. It never splits a UTF-8 sequence.
func clip(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	keep := (maxMessage - 40) / 2
	head, tail := keep, len(msg)-keep
	for head > 0 && !utf8.RuneStart(msg[head]) {
		head--
	}
	for tail < len(msg) && !utf8.RuneStart(msg[tail]) {
		tail++
	}
	return fmt.Sprintf("%s…[%d bytes left out]…%s", msg[:head], tail-head, msg[tail:])
}

// MaxPrinted is how many problems Errors.Error lists before it summarises the
// rest; the list itself keeps them all.
const MaxPrinted = 20

// Errors is every problem found in one configuration file, sorted by position,
// so that a user can fix them all in one pass.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == MaxPrinted {
			fmt.Fprintf(&b, "\n(and %d more problems)", len(es)-MaxPrinted)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sortByPos orders the problems as they appear in the file. The sort is stable
// so that several problems at one position keep the order they were found in.
func (es Errors) sortByPos() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// suggest returns the candidate closest to word, or "" when none is close
// enough to be what the user meant.
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(word, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := max(2, len(word)/3)
	if bestDist <= limit {
		return best
	}
	// "tokens_per_sec" is close in meaning to "tokens_per_second" even when
	// many letters are missing; a shared prefix is a strong hint.
	for _, c := range candidates {
		if len(word) >= 4 && (strings.HasPrefix(c, word) || strings.HasPrefix(word, c)) {
			return c
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quoteList formats names as "a", "b" and "c" for a message.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return "(none)"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
