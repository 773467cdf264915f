package wasmcheck

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/capstream/capstream/host"
)

// sampleQuota is the KV quota of a sample call.
const sampleQuota = 1 << 20

// sample makes one call of tool with the input of the options, as
// capstream serve would for a principal granted everything the manifest
// needs, except outbound HTTP unless Options.Egress is set, and private
// addresses and secrets in any case. It reports the call, a failure, an
// output that does not satisfy the output schema, and host calls that were
// denied because the manifest does not declare them.
func (c *checker) sample(ctx context.Context, engine *host.Engine, tool *host.Tool) error {
	input := c.opts.Input
	if err := tool.ValidateInput(input); err != nil {
		c.add(Error, CodeSampleInput, "the sample input does not satisfy the input schema: %v", err)
		return nil
	}
	grants := host.Grants{Tools: []string{tool.Name}, Limits: c.limits}
	if tool.Needs.KV != nil {
		grants.KV = &host.KVGrant{Write: true, Quota: sampleQuota} // no more than the needs: Derive intersects
	}
	if c.opts.Egress != nil {
		// Private addresses and secrets come from a policy alone, which a
		// check does not have: a tool cannot grant them to itself.
		for _, r := range tool.Needs.HTTP {
			grants.HTTP = append(grants.HTTP, host.HTTPRule{URL: r.URL, Methods: r.Methods})
		}
	}
	capab, err := host.DeriveCapability(host.Principal{Subject: "check"}, grants, tool, "check", time.Now())
	if err != nil {
		return err
	}
	s := &SampleResult{Input: input, Events: []SampleEvent{}}
	sink := host.SinkFunc(func(e host.Event) {
		s.Events = append(s.Events, SampleEvent{Type: e.Type, Data: e.Data})
	})
	res := engine.Call(ctx, host.Invocation{Tool: tool, Capability: &capab, Input: input, Sink: sink})
	if res.Reason != "" {
		return context.Cause(ctx)
	}
	s.Output, s.Failure, s.Usage = res.Output, res.Failure, res.Usage
	s.DurationMs = float64(res.Duration.Microseconds()) / 1000
	c.report.Sample = s

	c.denials(tool, s.Events)
	switch {
	case res.Failure != nil && res.Failure.Code == host.CodeToolError:
		c.add(Warning, CodeSampleToolError, "the sample call ended with a tool error: %s", res.Failure.Message)
	case res.Failure != nil:
		c.add(Error, CodeSampleFailed, "the sample call failed (%s): %s", res.Failure.Code, res.Failure.Message)
	case tool.OutputSchema != nil:
		c.checkOutput(ctx, tool, res.Output)
	}
	return nil
}

// denials reports the host calls of a sample call that were denied for
// want of a declaration in the manifest, once per grant.
func (c *checker) denials(tool *host.Tool, events []SampleEvent) {
	seen := map[string]bool{}
	for _, e := range events {
		var d struct {
			Op     string
			Denied *host.Denial
		}
		if json.Unmarshal(e.Data, &d) != nil || d.Denied == nil || seen[d.Denied.Grant] {
			continue
		}
		seen[d.Denied.Grant] = true
		switch d.Denied.Grant {
		case "kv":
			if tool.Needs.KV == nil {
				c.add(Warning, CodeSampleDenied, `the sample call's kv %s was denied (%s): declare the store in the manifest's needs, {"kv": {"write": true}} to write or {"kv": {}} to read only`, d.Op, d.Denied.Reason)
			} else {
				c.add(Warning, CodeSampleDenied, `the sample call's kv %s was denied (%s): declare {"kv": {"write": true}} in the manifest's needs to write`, d.Op, d.Denied.Reason)
			}
		case "http":
			switch {
			case c.opts.Egress == nil:
				c.add(Info, CodeSampleHTTP, "the sample call's HTTP requests were denied: outbound HTTP is off in a check unless asked for (capstream check --allow-http)")
			case strings.HasPrefix(d.Denied.Reason, "secret "):
				c.add(Info, CodeSampleHTTP, "an HTTP request of the sample call was denied (%s): a check fills in no secrets, which a server's policy grants", d.Denied.Reason)
			default:
				c.add(Warning, CodeSampleDenied, "an HTTP request of the sample call was denied (%s): the manifest's needs.http must allow every URL and method the tool uses", d.Denied.Reason)
			}
		default:
			c.add(Warning, CodeSampleDenied, "a host call of the sample call was denied (%s: %s)", d.Denied.Grant, d.Denied.Reason)
		}
	}
}

// checkOutput validates a sample call's output against the tool's output
// schema, with the host's own validator: the schema becomes the input
// schema of a probe (probe.go), whose ValidateInput is the check.
func (c *checker) checkOutput(ctx context.Context, tool *host.Tool, output json.RawMessage) {
	name, _ := json.Marshal(c.prober.name(tool.Name))
	m, err := json.Marshal(map[string]json.RawMessage{"name": name, "inputSchema": tool.OutputSchema})
	if err != nil {
		return
	}
	probe, err := c.prober.load(ctx, m)
	if err != nil {
		return // the host loaded the tool, so it accepts the schema
	}
	if err := probe.ValidateInput(output); err != nil {
		c.add(Warning, CodeSampleOutput, "the sample call's output does not satisfy the output schema: %v: MCP clients may refuse structured content that does not", err)
	}
}
