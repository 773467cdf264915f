package policy

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // -1: an error
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"512B", 512},
		{"512KiB", 512 << 10},
		{"64MiB", 64 << 20},
		{"64 MiB", 64 << 20},
		{"4GiB", 4 << 30},
		{"2TiB", 2 << 40},
		{"1KB", 1000},
		{"1kB", 1000},
		{"10MB", 10_000_000},
		{"1GB", 1_000_000_000},
		{"3TB", 3_000_000_000_000},
		{"8388608TiB", -1}, // 2^63: one past the largest int64
		{"8388607TiB", 8388607 << 40},
		{"9223372036854775807", 9223372036854775807},
		{"9223372036854775808", -1},
		{"64M", -1},
		{"64mib", -1},
		{"64Mib", -1},
		{"1.5GiB", -1},
		{"-1", -1},
		{"MiB", -1},
		{"", -1},
		{"0x10", -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.want < 0 {
				if err == nil {
					t.Fatalf("parseSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	tests := map[int64]string{
		1:               "1B",
		1000:            "1KB",
		1024:            "1KiB",
		1500:            "1500B",
		64 << 20:        "64MiB",
		1536 << 20:      "1536MiB",
		10_000_000:      "10MB",
		4 << 30:         "4GiB",
		3 << 40:         "3TiB",
		1_000_000_000_0: "10GB",
	}
	for n, want := range tests {
		got := formatSize(n)
		if got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseSize(got); err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestDurations(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		text string
	}{
		{"30s", 30 * time.Second, "30s"},
		{"10m", 10 * time.Minute, "10m"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"2h", 2 * time.Hour, "2h"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"1500ms", 1500 * time.Millisecond, "1.5s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
	} {
		got, err := parseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := formatDuration(got); s != tt.text {
			t.Errorf("formatDuration(%v) = %q, want %q", got, s, tt.text)
		}
	}
	for _, bad := range []string{"30", "", "1 hour", "1d"} {
		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
}
