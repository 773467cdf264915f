package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"
)

// report prints the header, the table and, last, the speedup: Extism's
// median over capstream's (the first two results).
func report(w io.Writer, o options, res []*result) {
	fmt.Fprintln(w, "capstream vs Extism: one call of the echo tool, each in a fresh instance")
	fmt.Fprintf(w, "%s %s/%s, %d CPUs; wazero %s; extism go-sdk %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		depVersion("github.com/tetratelabs/wazero"), depVersion("github.com/extism/go-sdk"))
	fmt.Fprintf(w, "%d rounds × %d calls per path, interleaved; input %s\n", o.rounds, o.calls, o.input)
	fmt.Fprintln(w, "verified first: each path echoed an unseen input exactly and delivered its log line")
	fmt.Fprintln(w)

	rows := [][]string{{"path", "median", "p10", "p90", "min", "round medians", "allocs/call", "KiB/call"}}
	for _, r := range res {
		allocs, bytes := r.perCall()
		rows = append(rows, []string{r.name,
			dur(r.median()), dur(quantile(r.samples, 0.1)), dur(quantile(r.samples, 0.9)), dur(r.samples[0]),
			dur(r.roundMedians[0]) + "–" + dur(r.roundMedians[len(r.roundMedians)-1]),
			fmt.Sprintf("%.0f", allocs), fmt.Sprintf("%.0f", bytes/1024)})
	}
	table(w, rows)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "per-call speedup vs extism: %.1fx\n", float64(res[1].median())/float64(res[0].median()))
}

// table prints rows in columns two spaces apart: the first column aligned
// left, the others, numbers, aligned right.
func table(w io.Writer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				b.WriteString(cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// dur formats a call's duration in µs below a millisecond, in ms above.
func dur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// depVersion returns the version of a module this binary was built with.
func depVersion(module string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == module {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "(unknown)"
}
