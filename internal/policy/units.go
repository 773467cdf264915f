package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits are the units a size may carry: binary (KiB = 1024) and decimal
// (KB = 1000). A size without a unit, or with "B", is in bytes.
var sizeUnits = map[string]int64{
	"":    1,
	"B":   1,
	"KiB": 1 << 10,
	"MiB": 1 << 20,
	"GiB": 1 << 30,
	"TiB": 1 << 40,
	"kB":  1e3,
	"KB":  1e3,
	"MB":  1e6,
	"GB":  1e9,
	"TB":  1e12,
}

// ParseSize reads a size written as in a policy, for the flags that take
// sizes in the same form; see parseSize.
func ParseSize(s string) (int64, error) { return parseSize(s) }

// FormatSize renders n bytes as a policy's sizes are shown; see formatSize.
func FormatSize(n int64) string { return formatSize(n) }

// parseSize reads a size such as "64MiB", "512 KiB", "1GB" or "1048576".
// The number is a whole decimal; fractions are refused rather than rounded
// ("1.5GiB" → write "1536MiB").
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, unit := s[:i], strings.TrimSpace(s[i:])
	if digits == "" {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit, e.g. 64MiB", s)
	}
	if strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf("size %q: fractions are not accepted; use a smaller unit (e.g. 1536MiB for 1.5GiB)", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)", s, unit)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// formatSize renders n bytes in the unit that divides it exactly with the
// smallest number, binary on a tie: 67108864 is "64MiB", 10^10 is "10GB",
// 1500 is "1500B".
func formatSize(n int64) string {
	best, unit := n, "B"
	if n <= 0 {
		return strconv.FormatInt(n, 10) + unit
	}
	for _, u := range []struct {
		name string
		mult int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	} {
		if n%u.mult == 0 && n/u.mult < best {
			best, unit = n/u.mult, u.name
		}
	}
	return strconv.FormatInt(best, 10) + unit
}

// parseDuration reads a Go duration such as "30s", "10m" or "1h30m". A bare
// number is refused: its unit would be a guess.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number with a unit, e.g. 30s, 10m or 1h30m", s)
	}
	return d, nil
}

// formatDuration renders d without trailing zero units: "1h30m", not "1h30m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
