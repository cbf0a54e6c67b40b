package chain

import "sync"

// Waiters is a set of parties each waiting for the outcome (a T) of the
// transaction with a given hash. The zero value is ready to use, and it is
// safe for concurrent use.
type Waiters[T any] struct {
	mu sync.Mutex
	m  map[[32]byte][]chan T
}

// Wait registers interest in the transaction with the given hash. The returned
// channel receives its outcome once Done is called for that hash; cancel
// withdraws the interest.
func (w *Waiters[T]) Wait(hash [32]byte) (outcome <-chan T, cancel func()) {
	ch := make(chan T, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[[32]byte][]chan T)
	}
	w.m[hash] = append(w.m[hash], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		ws := w.m[hash]
		for i, c := range ws {
			if c == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(w.m, hash)
		} else {
			w.m[hash] = ws
		}
	}
}

// Done hands o to every party waiting for hash (each channel holds one, so
// Done never blocks) and forgets them.
func (w *Waiters[T]) Done(hash [32]byte, o T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[hash] {
		ch <- o
	}
	delete(w.m, hash)
}
