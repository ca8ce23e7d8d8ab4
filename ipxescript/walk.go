package ipxescript

import (
	"errors"
	"fmt"
	"iter"
	"slices"
)

// Walk traverses the tree rooted at node in depth-first order: it calls
// f(node); if that returns true, Walk visits each child of node, then calls
// f(nil). Children are visited in source order: a line's label, commands
// (and their words, and the parts of each word, recursively into nested
// expansions) and comment. Walk recurses once per level of nesting: trees
// from Parse nest at most MaxExpansionDepth expansions deep. Nil nodes (a
// nil node, or a nil entry in a hand-built tree) are not visited.
func Walk(node Node, f func(Node) bool) {
	if isNilNode(node) || !f(node) {
		return
	}
	switch n := node.(type) {
	case *File:
		for i := range n.Lines {
			Walk(&n.Lines[i], f)
		}
	case *Line:
		if n.Label != nil {
			Walk(n.Label, f)
		}
		for i := range n.Cmds {
			Walk(&n.Cmds[i], f)
		}
		if n.Comment != nil {
			Walk(n.Comment, f)
		}
	case *Cmd:
		for i := range n.Words {
			Walk(&n.Words[i], f)
		}
	case *Word:
		if n.inline {
			Walk(&n.lit, f)
		}
		for _, p := range n.list() {
			Walk(p, f)
		}
	case *Expansion:
		for _, p := range n.Parts {
			Walk(p, f)
		}
	}
	f(nil)
}

// Preorder returns an iterator over node and every node beneath it, in
// the depth-first order of Walk (a line's label, commands, their words and
// the parts of each word, recursively into nested expansions, then the
// comment). Unlike Walk it keeps its own stack, so it handles trees of any
// depth, and it reads a node's children only after yielding the node: the
// loop body may replace them (e.g. assign c.Words[i] = NewWord(...) when it
// sees the *Cmd c) and the iterator then visits the new children. A nil node
// yields nothing.
//
//	for n := range ipxescript.Preorder(f) {
//		if c, ok := n.(*ipxescript.Cmd); ok && c.Name() == "chain" { ... }
//	}
func Preorder(node Node) iter.Seq[Node] {
	return func(yield func(Node) bool) {
		if isNilNode(node) {
			return
		}
		stack := []Node{node}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !yield(n) {
				return
			}
			// Push the children in reverse, so that the first is visited
			// first.
			mark := len(stack)
			switch n := n.(type) {
			case *File:
				for i := range n.Lines {
					stack = append(stack, &n.Lines[i])
				}
			case *Line:
				if n.Label != nil {
					stack = append(stack, n.Label)
				}
				for i := range n.Cmds {
					stack = append(stack, &n.Cmds[i])
				}
				if n.Comment != nil {
					stack = append(stack, n.Comment)
				}
			case *Cmd:
				for i := range n.Words {
					stack = append(stack, &n.Words[i])
				}
			case *Word:
				if n.inline {
					stack = append(stack, &n.lit)
				}
				for _, p := range n.list() {
					stack = appendNode(stack, p)
				}
			case *Expansion:
				for _, p := range n.Parts {
					stack = appendNode(stack, p)
				}
			}
			slices.Reverse(stack[mark:])
		}
	}
}

// appendNode appends n unless it is nil (an untyped nil or a nil pointer
// in a slice of a hand-built tree).
func appendNode(stack []Node, n Node) []Node {
	if isNilNode(n) {
		return stack
	}
	return append(stack, n)
}

// isNilNode reports whether n is nil or a nil pointer of a node type.
func isNilNode(n Node) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *File:
		return n == nil
	case *Line:
		return n == nil
	case *Label:
		return n == nil
	case *Cmd:
		return n == nil
	case *Word:
		return n == nil
	case *Lit:
		return n == nil
	case *Expansion:
		return n == nil
	case *Comment:
		return n == nil
	}
	return false
}

// ErrNilNode is wrapped by Runner.Run's error for a tree that holds a nil
// where a node belongs (a nil *File, or a nil word part: a nil interface,
// *Lit or *Expansion in a word's or an expansion's parts). Print refuses
// such a tree with a *PrintError and Lint with a CodeNilNode finding; Walk
// and Preorder skip the nil entries.
var ErrNilNode = errors.New("ipxescript: nil node in the syntax tree")

// findNilNode returns the first nil entry of a hand-built tree, described
// as "Word.Parts[3] is nil", with the start of its line (zero for nodes
// without positions); or "" when there is none. It keeps its own stack
// for expansions, so a tree of any depth is fine.
func findNilNode(f *File) (Pos, string) {
	if f == nil {
		return Pos{}, "nil *File"
	}
	type parts struct {
		owner string
		parts []WordPart
	}
	var stack []parts
	for i := range f.Lines {
		l := &f.Lines[i]
		for j := range l.Cmds {
			for _, w := range l.Cmds[j].Words {
				stack = append(stack[:0], parts{"Word", w.list()})
				for len(stack) > 0 {
					top := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					for m, p := range top.parts {
						if isNilNode(p) {
							return l.Start, fmt.Sprintf("%s.Parts[%d] is nil", top.owner, m)
						}
						if e, ok := p.(*Expansion); ok {
							stack = append(stack, parts{"Expansion", e.Parts})
						}
					}
				}
			}
		}
	}
	return Pos{}, ""
}
