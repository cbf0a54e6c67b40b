package node

// loop is the plumbing of a node's background goroutine (the directory, the
// due watch): a wake channel that poke fills without blocking, and a stop and
// done pair that close uses to end the goroutine and wait for it.
type loop struct {
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	// started is set once run ran, so close knows whether to wait.
	started bool
}

func newLoop() loop {
	return loop{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// poke asks for a round soon; it never blocks (the consensus goroutine calls it).
func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run starts body in its own goroutine; done closes when body returns.
func (l *loop) run(body func()) {
	l.started = true
	go func() {
		defer close(l.done)
		body()
	}()
}

// close stops the goroutine and waits for it; a second close does nothing.
func (l *loop) close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	if l.started {
		<-l.done
	}
}
