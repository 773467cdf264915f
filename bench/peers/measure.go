package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// result is what measure found for one path.
type result struct {
	name         string
	samples      []time.Duration // every timed call, sorted
	roundMedians []time.Duration // the median of each round, sorted
	allocs       uint64          // heap allocations of the host process, all rounds
	bytes        uint64          // bytes allocated on the host's heap, all rounds
}

func (r *result) median() time.Duration { return quantile(r.samples, 0.5) }

// perCall returns allocations and bytes per call.
func (r *result) perCall() (allocs, bytes float64) {
	n := float64(len(r.samples))
	return float64(r.allocs) / n, float64(r.bytes) / n
}

// measure runs rounds rounds; in each, every path in turn runs calls calls,
// each timed on its own. Interleaving the paths round by round spreads the
// machine's noise (other processes, frequency changes) over all of them
// instead of letting it land on whichever ran during a bad second. Every
// path first runs one untimed round, and the collector runs before each
// path's turn, so that one path's garbage is not collected on another's time.
func measure(ctx context.Context, paths []*path, input []byte, rounds, calls int) ([]*result, error) {
	warm := max(calls/10, 1)
	for _, p := range paths {
		for range warm {
			if _, err := p.call(ctx, input); err != nil {
				return nil, fmt.Errorf("%s: warming up: %w", p.name, err)
			}
		}
	}

	res := make([]*result, len(paths))
	for i, p := range paths {
		res[i] = &result{name: p.name, samples: make([]time.Duration, 0, rounds*calls)}
	}
	round := make([]time.Duration, calls)
	for range rounds {
		for i, p := range paths {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for n := range round {
				start := time.Now()
				if _, err := p.call(ctx, input); err != nil {
					return nil, fmt.Errorf("%s: %w", p.name, err)
				}
				round[n] = time.Since(start)
			}
			runtime.ReadMemStats(&after)

			r := res[i]
			r.allocs += after.Mallocs - before.Mallocs
			r.bytes += after.TotalAlloc - before.TotalAlloc
			r.samples = append(r.samples, round...)
			slices.Sort(round)
			r.roundMedians = append(r.roundMedians, quantile(round, 0.5))
		}
	}
	for _, r := range res {
		slices.Sort(r.samples)
		slices.Sort(r.roundMedians)
	}
	return res, nil
}

// quantile returns the q-quantile (0 <= q <= 1) of sorted, interpolating
// linearly between the two nearest samples; 0 if there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(i)
	return sorted[i] + time.Duration(frac*float64(sorted[i+1]-sorted[i]))
}
