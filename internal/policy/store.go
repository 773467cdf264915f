package policy

import (
	"sync"
	"sync/atomic"
)

// Store holds the current policy of a server and replaces it on Reload.
// Current and Reload are safe to call from any goroutines at once; a call in
// flight keeps the *Policy it read, so a reload never changes the grants of
// a call that has started.
type Store struct {
	path   string
	cur    atomic.Pointer[Policy]
	reload sync.Mutex // one Reload at a time, so an older read never replaces a newer one
}

// NewStore loads the policy file at path; it fails if the file does not
// parse or validate.
func NewStore(path string) (*Store, error) {
	p, err := Load(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path}
	s.cur.Store(p)
	return s, nil
}

// Path returns the file the store loads.
func (s *Store) Path() string { return s.path }

// Current returns the policy in force. It never returns nil.
func (s *Store) Current() *Policy { return s.cur.Load() }

// Reload reads the file again. If it parses and validates, it replaces the
// current policy; otherwise the current policy stays in force and Reload
// returns why (an *Error for a problem in the file), for the caller to log.
func (s *Store) Reload() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	p, err := Load(s.path)
	if err != nil {
		return err
	}
	s.cur.Store(p)
	return nil
}
