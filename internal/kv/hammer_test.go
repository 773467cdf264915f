package kv

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHammer runs many goroutines over many namespaces at once, several of
// which are prefixes of others ("tool/user1", "tool/user10"), and checks
// that each namespace ends with exactly its own keys, values and usage.
func TestHammer(t *testing.T) {
	const namespaces, workers, writes = 50, 3, 12
	s, _ := openTest(t, Options{})
	value := func(ns, key string) []byte { return []byte(ns + "|" + key) }

	var wg sync.WaitGroup
	errs := make(chan error, namespaces*workers)
	for n := range namespaces {
		ns := fmt.Sprintf("tool/user%d", n)
		for w := range workers {
			wg.Go(func() {
				if err := hammerWorker(s, ns, w, writes, value); err != nil {
					errs <- fmt.Errorf("%s worker %d: %w", ns, w, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for n := range namespaces {
		ns := fmt.Sprintf("tool/user%d", n)
		var want []string
		var usage int64
		for w := range workers {
			for i := range writes {
				if i%3 == 2 {
					continue // deleted by the worker
				}
				key := fmt.Sprintf("w%d/k%02d", w, i)
				want = append(want, key)
				usage += int64(len(key) + len(value(ns, key)))
				wantGet(t, s, ns, key, string(value(ns, key)))
			}
		}
		slices.Sort(want)
		wantList(t, s, ns, "", 0, want...)
		wantUsage(t, s, ns, usage)
	}
}

// hammerWorker writes its keys into ns one by one, deleting every third,
// and checks after each step that it reads back exactly its own keys.
func hammerWorker(s *Store, ns string, w, writes int, value func(ns, key string) []byte) error {
	prefix := fmt.Sprintf("w%d/", w)
	var mine []string
	for i := range writes {
		key := fmt.Sprintf("%sk%02d", prefix, i)
		if err := s.Set(ns, key, value(ns, key), 0); err != nil {
			return err
		}
		got, err := s.Get(ns, key)
		if err != nil {
			return err
		}
		if string(got) != string(value(ns, key)) {
			return fmt.Errorf("Get(%q) = %q", key, got)
		}
		if i%3 == 2 {
			if existed, err := s.Delete(ns, key); err != nil || !existed {
				return fmt.Errorf("Delete(%q) = %v, %v", key, existed, err)
			}
		} else {
			mine = append(mine, key)
		}
		listed, err := s.List(ns, prefix, 0)
		if err != nil {
			return err
		}
		if !slices.Equal(listed, mine) {
			return fmt.Errorf("List(%q) = %q, want %q", prefix, listed, mine)
		}
		all, err := s.List(ns, "", 0)
		if err != nil {
			return err
		}
		for _, k := range all {
			if !strings.HasPrefix(k, "w") {
				return fmt.Errorf("List shows a foreign key %q", k)
			}
		}
	}
	return nil
}

// TestQuotaUnderContention has many goroutines race to fill one namespace
// and checks that the quota holds and the usage is exact.
func TestQuotaUnderContention(t *testing.T) {
	const ns, quota = "tool/shared", 500
	s, _ := openTest(t, Options{})
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 5 {
				err := s.Set(ns, fmt.Sprintf("g%02d-%02d", g, i), []byte("0123456789"), quota) // 16 bytes
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	keys, err := s.List(ns, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(keys)) != accepted.Load() || accepted.Load() != quota/16 {
		t.Errorf("%d keys stored, %d writes accepted, want %d of each", len(keys), accepted.Load(), quota/16)
	}
	if refused.Load() != 100-quota/16 {
		t.Errorf("%d writes refused, want %d", refused.Load(), 100-quota/16)
	}
	wantUsage(t, s, ns, int64(len(keys))*16)
}
