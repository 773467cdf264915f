package host

// Uninterruptible returns cfg with wazero's termination checks off; see
// Config.uninterruptible.
func Uninterruptible(cfg Config) Config {
	cfg.uninterruptible = true
	return cfg
}
