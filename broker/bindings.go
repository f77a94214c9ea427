package broker

import (
	"slices"
	"strings"

	"msw/internal/wire"
)

// The binding index: a trie of pattern tokens. Each node's children are
// keyed by token, wildcards included ("*" and ">" are ordinary keys), and
// a node lists the queues bound to the pattern that ends there. Matching a
// topic of n tokens walks at most two children per level (the token
// itself and "*") and collects ">" where it passes one, so a publish
// costs the patterns that could match it, not the number of bindings.

// trieNode is one token of the patterns bound so far.
type trieNode struct {
	children map[string]*trieNode
	queues   []*Queue // bound to the pattern ending here, each once, by name
}

// bindingTrie indexes patterns to the queues bound to them. Guarded by
// Broker.bindingsMu.
type bindingTrie struct {
	root trieNode
}

// add binds q to pattern; it reports false if it already was.
func (t *bindingTrie) add(pattern string, q *Queue) bool {
	n := &t.root
	for tok := range strings.SplitSeq(pattern, ".") {
		c := n.children[tok]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*trieNode{}
			}
			c = &trieNode{}
			n.children[tok] = c
		}
		n = c
	}
	i, found := indexOf(n.queues, q)
	if found {
		return false
	}
	n.queues = slices.Insert(n.queues, i, q)
	return true
}

// indexOf finds q in a list sorted by name, or where it would go. Two
// queues of one name may both be listed for a moment: a queue destroyed
// and made again before the old one's bindings were dropped.
func indexOf(list []*Queue, q *Queue) (int, bool) {
	i, _ := slices.BinarySearchFunc(list, q, byName)
	for j := i; j < len(list) && list[j].name == q.name; j++ {
		if list[j] == q {
			return j, true
		}
	}
	return i, false
}

// byName orders queues by name: each node's list is kept in this order,
// the order a publish locks them in.
func byName(a, b *Queue) int { return strings.Compare(a.name, b.name) }

// remove unbinds q from pattern, pruning nodes left empty; it reports
// whether q was bound.
func (t *bindingTrie) remove(pattern string, q *Queue) bool {
	return t.root.remove(strings.Split(pattern, "."), q)
}

func (n *trieNode) remove(toks []string, q *Queue) bool {
	if len(toks) == 0 {
		if i, found := indexOf(n.queues, q); found {
			n.queues = slices.Delete(n.queues, i, i+1)
			return true
		}
		return false
	}
	c := n.children[toks[0]]
	if c == nil || !c.remove(toks[1:], q) {
		return false
	}
	if len(c.queues) == 0 && len(c.children) == 0 {
		delete(n.children, toks[0])
	}
	return true
}

// matching returns the queues bound to a pattern matching topic, each
// once, sorted by name, in a slice of the caller's own.
func (t *bindingTrie) matching(topic string) []*Queue {
	lists := t.root.match(strings.Split(topic, "."), nil)
	switch len(lists) {
	case 0:
		return nil
	case 1: // one pattern matched: its list is sorted, without duplicates
		return slices.Clone(lists[0])
	}
	var qs []*Queue
	for _, l := range lists {
		qs = append(qs, l...)
	}
	slices.SortFunc(qs, byName)
	return slices.Compact(qs) // one copy per queue, however many patterns match
}

// match appends to out the lists of queues bound to the patterns that
// match the topic's tokens.
func (n *trieNode) match(toks []string, out [][]*Queue) [][]*Queue {
	if len(toks) == 0 {
		if len(n.queues) > 0 {
			out = append(out, n.queues)
		}
		return out
	}
	if c := n.children[wire.TokenRest]; c != nil && len(c.queues) > 0 {
		out = append(out, c.queues)
	}
	if c := n.children[toks[0]]; c != nil {
		out = c.match(toks[1:], out)
	}
	if c := n.children[wire.TokenAny]; c != nil {
		out = c.match(toks[1:], out)
	}
	return out
}
