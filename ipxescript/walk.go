package ipxescript

// Walk traverses the tree rooted at node in depth-first order: it calls
// f(node); if that returns true, Walk visits each child of node, then calls
// f(nil). Children are visited in source order: a line's label, commands
// (and their words, and the parts of each word, recursively into nested
// expansions) and comment. Walk recurses once per level of nesting: trees
// from Parse nest at most MaxExpansionDepth expansions deep.
func Walk(node Node, f func(Node) bool) {
	if node == nil || !f(node) {
		return
	}
	switch n := node.(type) {
	case *File:
		for _, l := range n.Lines {
			Walk(l, f)
		}
	case *Line:
		if n.Label != nil {
			Walk(n.Label, f)
		}
		for _, c := range n.Cmds {
			Walk(c, f)
		}
		if n.Comment != nil {
			Walk(n.Comment, f)
		}
	case *Cmd:
		for _, w := range n.Words {
			Walk(w, f)
		}
	case *Word:
		for _, p := range n.Parts {
			Walk(p, f)
		}
	case *Expansion:
		for _, p := range n.Parts {
			Walk(p, f)
		}
	}
	f(nil)
}
