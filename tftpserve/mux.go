package tftpserve

import (
	"sort"
	"strings"
	"sync"
)

// ServeMux routes requests by path. A pattern ending in "/" matches every
// path below it ("pxelinux.cfg/"); other patterns match one path exactly
// ("ipxe.efi"). The longest matching pattern wins; the pattern "" or "/"
// matches everything. Patterns are normalised like request paths, so
// "/boot/" and "boot/" are the same pattern.
type ServeMux struct {
	// FoldCase matches patterns case-insensitively.
	FoldCase bool
	// NotFound serves paths no pattern matches; nil sends "file not found".
	NotFound Handler

	mu       sync.RWMutex
	exact    map[string]Handler
	prefixes []muxEntry // longest first
}

type muxEntry struct {
	prefix string
	h      Handler
}

// NewServeMux returns an empty mux.
func NewServeMux() *ServeMux { return &ServeMux{exact: map[string]Handler{}} }

// Handle registers h for pattern. It panics if pattern is registered twice
// or h is nil, as net/http does.
func (m *ServeMux) Handle(pattern string, h Handler) {
	if h == nil {
		panic("tftpserve: nil handler for " + pattern)
	}
	prefix := strings.HasSuffix(pattern, "/") || pattern == ""
	p := strings.Trim(strings.ReplaceAll(pattern, `\`, "/"), "/")
	if p != "" {
		clean, err := CleanPath(p)
		if err != nil {
			panic("tftpserve: bad pattern " + pattern + ": " + err.Error())
		}
		p = clean
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exact == nil {
		m.exact = map[string]Handler{}
	}
	if prefix {
		if p != "" {
			p += "/"
		}
		for _, e := range m.prefixes {
			if m.key(e.prefix) == m.key(p) {
				panic("tftpserve: pattern " + pattern + " registered twice")
			}
		}
		m.prefixes = append(m.prefixes, muxEntry{p, h})
		sort.SliceStable(m.prefixes, func(i, j int) bool { return len(m.prefixes[i].prefix) > len(m.prefixes[j].prefix) })
		return
	}
	if _, ok := m.exact[m.key(p)]; ok {
		panic("tftpserve: pattern " + pattern + " registered twice")
	}
	m.exact[m.key(p)] = h
}

// HandleFunc registers a function for pattern.
func (m *ServeMux) HandleFunc(pattern string, f func(ResponseWriter, *Request)) {
	m.Handle(pattern, HandlerFunc(f))
}

func (m *ServeMux) key(s string) string {
	if m.FoldCase {
		return strings.ToLower(s)
	}
	return s
}

// Handler returns the handler for a path and whether a pattern matched.
func (m *ServeMux) Handler(path string) (Handler, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k := m.key(path)
	if h, ok := m.exact[k]; ok {
		return h, true
	}
	for _, e := range m.prefixes {
		if strings.HasPrefix(k, m.key(e.prefix)) {
			return e.h, true
		}
	}
	return nil, false
}

// ServeTFTP dispatches the request to the handler whose pattern matches.
func (m *ServeMux) ServeTFTP(w ResponseWriter, r *Request) {
	h, ok := m.Handler(r.Path)
	if !ok {
		if m.NotFound != nil {
			m.NotFound.ServeTFTP(w, r)
			return
		}
		w.WriteError(ErrNotFound)
		return
	}
	h.ServeTFTP(w, r)
}

// StripPrefix serves requests by removing prefix from r.Path and passing
// them to h; paths without the prefix get "file not found". The prefix is
// normalised like a path ("/boot" and "boot/" are the same).
func StripPrefix(prefix string, h Handler) Handler {
	p := strings.Trim(strings.ReplaceAll(prefix, `\`, "/"), "/")
	if p != "" {
		p += "/"
	}
	return HandlerFunc(func(w ResponseWriter, r *Request) {
		rest, ok := strings.CutPrefix(r.Path, p)
		if !ok || rest == "" {
			w.WriteError(ErrNotFound)
			return
		}
		r2 := *r
		r2.Path = rest
		h.ServeTFTP(w, &r2)
	})
}
