package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Committed reads are cached; a commit must never leave an older value to be read.
func TestCommittedReadsSeeEveryCommit(t *testing.T) {
	s := OpenMem()
	defer s.Close()
	t0 := time.Unix(1, 0)
	k := []byte("c/cloud0")
	r := s.Committed()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // concurrent readers, as CheckTx reads beside FinalizeBlock
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.Get(k)
				r.Get([]byte("absent"))
			}
		}
	}()
	for h := int64(1); h <= 2000; h++ {
		want := fmt.Sprintf("v%d", h)
		switch h % 3 {
		case 0:
			s.Working().Delete(k)
			want = ""
		default:
			s.Working().Set(k, []byte(want))
		}
		if _, err := s.Commit(h, t0); err != nil {
			t.Fatal(err)
		}
		if got := string(r.Get(k)); got != want {
			t.Fatalf("after commit %d: read %q, want %q", h, got, want)
		}
		if got := string(r.Get(k)); got != want {
			t.Fatalf("after commit %d, cached: read %q, want %q", h, got, want)
		}
	}
	close(stop)
	wg.Wait()
	for i := 0; i < readCacheSize*2; i++ {
		s.Working().Set([]byte(fmt.Sprintf("k/%d", i)), []byte("x"))
	}
	s.Commit(2001, t0)
	for i := 0; i < readCacheSize*2; i++ {
		if string(r.Get([]byte(fmt.Sprintf("k/%d", i)))) != "x" {
			t.Fatal("lost a value")
		}
	}
	if len(s.cache.m) > readCacheSize {
		t.Fatalf("cache holds %d entries, more than %d", len(s.cache.m), readCacheSize)
	}
}
