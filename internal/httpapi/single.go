package httpapi

import (
	"context"
	"encoding/json"
	"sync"
)

// Replica is what a Cluster implementation may ask of the server it
// serves: to cancel one of the calls that server runs.
type Replica interface {
	// CancelLocal cancels call id with reason (a host.CancelReason) if
	// the server runs it for subject, and reports whether it did.
	CancelLocal(id, subject, reason string) bool
}

// SingleNode is the Cluster of a server that runs alone, the default:
// caps counted in memory, cancel requests handed to the server itself,
// its own key the only one. A server whose Config.Cluster is nil uses
// one; internal/cluster's Node is the other implementation, and both pass
// one suite (internal/httpapi/clustersuite).
type SingleNode struct {
	r Replica

	mu      sync.Mutex
	running map[string]map[string]bool // call ids by subject
	keys    map[string]json.RawMessage // by kid
}

// NewSingleNode returns the Cluster of replica r alone.
func NewSingleNode(r Replica) *SingleNode {
	return &SingleNode{r: r, running: map[string]map[string]bool{}, keys: map[string]json.RawMessage{}}
}

// Admit counts call id of subject against max.
func (n *SingleNode) Admit(_ context.Context, subject, id, _ string, max int) (bool, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	calls := n.running[subject]
	if len(calls) >= max {
		return false, len(calls), nil
	}
	if calls == nil {
		calls = map[string]bool{}
		n.running[subject] = calls
	}
	calls[id] = true
	return true, len(calls) - 1, nil
}

// Release gives back the place of call id of subject; a call not admitted,
// or released already, changes nothing.
func (n *SingleNode) Release(subject, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if delete(n.running[subject], id); len(n.running[subject]) == 0 {
		delete(n.running, subject)
	}
}

// Cancel hands the request to the server, which checks that it runs the
// call for subject.
func (n *SingleNode) Cancel(_ context.Context, id, subject, reason string) error {
	n.r.CancelLocal(id, subject, reason)
	return nil
}

// Keys returns the keys published.
func (n *SingleNode) Keys(context.Context) ([]json.RawMessage, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := make([]json.RawMessage, 0, len(n.keys))
	for _, k := range n.keys {
		keys = append(keys, k)
	}
	return keys, nil
}

// Ready is always nil: a node alone has no lease to lose.
func (n *SingleNode) Ready() error { return nil }

// PublishKey records the server's key.
func (n *SingleNode) PublishKey(_ context.Context, kid string, jwk json.RawMessage) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys[kid] = jwk
	return nil
}
