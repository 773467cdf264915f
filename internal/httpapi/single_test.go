package httpapi_test

import (
	"testing"

	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/httpapi/clustersuite"
)

// TestSingleNodeConformance runs the Cluster suite against the default,
// a server alone.
func TestSingleNodeConformance(t *testing.T) {
	clustersuite.Run(t, clustersuite.Config{
		Replicas: 1,
		Open: func(t *testing.T, locals []*clustersuite.Local) []httpapi.Cluster {
			return []httpapi.Cluster{httpapi.NewSingleNode(locals[0])}
		},
	})
}
