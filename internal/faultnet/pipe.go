// Package faultnet injects deterministic faults into UDP traffic: it drops,
// delays, duplicates and reorders datagrams by per-direction rates and a seed.
// The kernels pxekit is tested on have no netem, so loss and latency tests use
// this instead.
//
// Two forms are offered: a [Relay] that sits between clients and one server
// (and understands TFTP's habit of answering from a new port), and [Wrap],
// which wraps a net.PacketConn.
//
// The fault applied to the n-th datagram of a direction depends only on the
// seed, the rates and n: the same seed gives the same pattern of drops,
// duplicates and reorders. Timing (delay, jitter) is real time and is not
// replayed exactly.
package faultnet

import (
	"container/heap"
	"math/rand"
	"sync"
	"time"
)

// Rates are the faults applied to one direction of traffic.
type Rates struct {
	// Loss is the probability (0..1) that a datagram is dropped.
	Loss float64
	// Duplicate is the probability that a datagram is delivered twice.
	Duplicate float64
	// Reorder is the probability that a datagram is held back and delivered
	// after the next datagram of the same direction (or after HoldMax if no
	// other datagram comes).
	Reorder float64
	// Delay is added to every datagram.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter).
	Jitter time.Duration
}

// HoldMax is how long a reordered datagram waits for a successor before it is
// delivered anyway.
const HoldMax = 20 * time.Millisecond

// Stats counts what one direction did.
type Stats struct {
	Packets    uint64 // datagrams that entered
	Dropped    uint64 // datagrams lost
	Duplicated uint64 // datagrams delivered twice
	Reordered  uint64 // datagrams held back behind their successor
	Delayed    uint64 // datagrams delivered later than they came
}

// Decision is what a direction decides for one datagram.
type Decision struct {
	Drop, Duplicate, Reorder bool
	Delay                    time.Duration
}

// Decider turns a seed and rates into the sequence of per-datagram decisions.
// It draws the same number of random values for every datagram, so decision n
// depends only on the seed, the rates and n.
type Decider struct {
	rng   *rand.Rand
	rates Rates
}

// NewDecider returns a Decider for one direction.
func NewDecider(seed int64, r Rates) *Decider {
	return &Decider{rng: rand.New(rand.NewSource(seed)), rates: r}
}

// Next decides the fate of the next datagram.
func (d *Decider) Next() Decision {
	loss, dup, reorder, jitter := d.rng.Float64(), d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
	dec := Decision{
		Drop:      loss < d.rates.Loss,
		Duplicate: dup < d.rates.Duplicate,
		Reorder:   reorder < d.rates.Reorder,
		Delay:     d.rates.Delay + time.Duration(jitter*float64(d.rates.Jitter)),
	}
	if dec.Drop {
		dec.Duplicate, dec.Reorder = false, false
	}
	return dec
}

// sendFunc delivers one datagram.
type sendFunc func(b []byte, to any)

type item struct {
	due  time.Time
	seq  uint64
	data []byte
	to   any
	send sendFunc
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// pipe applies one direction's faults and delivers datagrams in due order from
// its own goroutine.
type pipe struct {
	mu      sync.Mutex
	decider *Decider
	stats   Stats
	queue   itemHeap
	seq     uint64
	held    []*item
	wake    chan struct{}
	done    chan struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newPipe(seed int64, r Rates) *pipe {
	p := &pipe{decider: NewDecider(seed, r), wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
}

// submit applies the faults to b (which the pipe takes over) bound for to.
func (p *pipe) submit(b []byte, to any, send sendFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.stats.Packets++
	dec := p.decider.Next()
	if dec.Drop {
		p.stats.Dropped++
		return
	}
	now := time.Now()
	if dec.Delay > 0 {
		p.stats.Delayed++
	}
	it := &item{due: now.Add(dec.Delay), data: b, to: to, send: send}
	batch := []*item{it}
	if dec.Duplicate {
		p.stats.Duplicated++
		dup := *it
		dup.data = append([]byte(nil), b...)
		batch = append(batch, &dup)
	}
	switch {
	case p.held != nil:
		// Datagrams held back earlier go right after this one.
		held := p.held
		p.held = nil
		for _, x := range batch {
			p.pushLocked(x)
		}
		for _, h := range held {
			if h.due.Before(it.due) {
				h.due = it.due
			}
			p.pushLocked(h)
		}
	case dec.Reorder:
		p.stats.Reordered++
		p.held = batch
		time.AfterFunc(HoldMax+dec.Delay, func() { p.release(batch) })
	default:
		for _, x := range batch {
			p.pushLocked(x)
		}
	}
	p.signal()
}

// release delivers a held datagram whose successor never came.
func (p *pipe) release(batch []*item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.held) == 0 || p.held[0] != batch[0] || p.closed {
		return
	}
	p.held = nil
	for _, it := range batch {
		p.pushLocked(it)
	}
	p.signal()
}

func (p *pipe) pushLocked(it *item) {
	p.seq++
	it.seq = p.seq
	heap.Push(&p.queue, it)
}

func (p *pipe) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pipe) run() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var ready []*item
		now := time.Now()
		for len(p.queue) > 0 && !p.queue[0].due.After(now) {
			ready = append(ready, heap.Pop(&p.queue).(*item))
		}
		wait := time.Hour
		if len(p.queue) > 0 {
			wait = p.queue[0].due.Sub(now)
		}
		p.mu.Unlock()
		for _, it := range ready {
			it.send(it.data, it.to)
		}
		if len(ready) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (p *pipe) snapshot() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *pipe) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.done)
	p.wg.Wait()
}
