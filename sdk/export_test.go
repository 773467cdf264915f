package sdk

// ResetRegistration forgets the registered tool, so that tests can register
// again.
func ResetRegistration() { registered = nil }
