package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShutdownGraceEach: a service that hangs in shutdown (HTTP with a
// client connection that never finishes) must not eat the others' grace:
// each service is shut down at once with its own full grace period. Before,
// HTTP used the whole shared 5 s and TFTP was then given an expired
// context, which aborts its transfers without a word.
func TestShutdownGraceEach(t *testing.T) {
	const grace = 2 * time.Second
	type call struct {
		alive bool          // the context was not done yet
		left  time.Duration // until its deadline, at the call
	}
	var mu sync.Mutex
	calls := map[string]call{}
	record := func(name string, ctx context.Context) {
		d, _ := ctx.Deadline()
		mu.Lock()
		calls[name] = call{alive: ctx.Err() == nil, left: time.Until(d)}
		mu.Unlock()
	}
	hung := func(name string) service {
		return service{name: name, shutdown: func(ctx context.Context) error {
			record(name, ctx)
			<-ctx.Done() // a connection that never goes idle
			return ctx.Err()
		}}
	}
	quick := func(name string) service {
		return service{name: name, shutdown: func(ctx context.Context) error {
			record(name, ctx)
			return nil
		}}
	}
	var logs bytes.Buffer
	start := time.Now()
	shutdownAll([]service{hung("http"), quick("tftp"), hung("dhcp")}, grace, slog.New(slog.NewTextHandler(&logs, nil)), true)
	took := time.Since(start)
	for _, name := range []string{"http", "tftp", "dhcp"} {
		c, ok := calls[name]
		if !ok {
			t.Errorf("%s not shut down", name)
		} else {
			if !c.alive {
				t.Errorf("%s shut down with an expired context", name)
			}
			if c.left <= grace/2 {
				t.Errorf("%s got %v of its %v grace: c.left = %v, want > %v", name, c.left, grace, c.left, grace/2)
			}
		}
	}
	// Hung services time out together, not one after the other.
	if took >= 2*grace-grace/4 {
		t.Errorf("shutdown took %v: took = %v, want < %v", took, took, 2*grace-grace/4)
	}
	if s := logs.String(); !strings.Contains(s, "service=http") {
		t.Errorf("logs.String() = %q, want it to contain %q", s, "service=http")
	}
	if s := logs.String(); !strings.Contains(s, "service=dhcp") {
		t.Errorf("logs.String() = %q, want it to contain %q", s, "service=dhcp")
	}
}
