package broker

import (
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
	queues   []*Queue // bound to the pattern ending here, each once
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
	for _, b := range n.queues {
		if b == q {
			return false
		}
	}
	n.queues = append(n.queues, q)
	return true
}

// remove unbinds q from pattern, pruning nodes left empty; it reports
// whether q was bound.
func (t *bindingTrie) remove(pattern string, q *Queue) bool {
	return t.root.remove(strings.Split(pattern, "."), q)
}

func (n *trieNode) remove(toks []string, q *Queue) bool {
	if len(toks) == 0 {
		for i, b := range n.queues {
			if b == q {
				n.queues = append(n.queues[:i], n.queues[i+1:]...)
				return true
			}
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

// match appends the queues bound to a pattern matching the topic's
// tokens to out; a queue bound by several matching patterns appears
// once per pattern (the caller removes duplicates).
func (n *trieNode) match(toks []string, out []*Queue) []*Queue {
	if len(toks) == 0 {
		return append(out, n.queues...)
	}
	if c := n.children[wire.TokenRest]; c != nil {
		out = append(out, c.queues...)
	}
	if c := n.children[toks[0]]; c != nil {
		out = c.match(toks[1:], out)
	}
	if c := n.children[wire.TokenAny]; c != nil {
		out = c.match(toks[1:], out)
	}
	return out
}
