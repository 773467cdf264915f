package host

// Uninterruptible returns cfg with wazero's termination checks off; see
// Config.uninterruptible.
func Uninterruptible(cfg Config) Config {
	cfg.uninterruptible = true
	return cfg
}

// RandomRanges returns the ranges of a tool's memory image that every
// instance gets fresh random bytes in, as offset and length pairs.
func RandomRanges(t *Tool) [][2]uint32 {
	var out [][2]uint32
	for _, r := range t.image.random {
		out = append(out, [2]uint32{r.Offset, r.Len})
	}
	return out
}
