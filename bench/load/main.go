// Command load measures capstream's throughput end to end from a process of
// its own: N clients, all one principal, make back-to-back streamed calls of
// one tool (POST /v1/tools/{tool}/calls, Accept: text/event-stream), each
// read to its terminal event, for a fixed time. It reports calls/s, latency
// percentiles and failures by kind, and exits with status 1 if any call
// failed. See README.md.
//
//	go run ./bench/load                       # starts bin/capstream serve --dev itself
//	go run ./bench/load -url URL -token TOKEN # against a server already running
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errFailures) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "load:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// errFailures is run's error when the measurement ran but some calls
// failed; the report has already said which.
var errFailures = errors.New("load: calls failed")

// options are the command line of run.
type options struct {
	url, token       string
	bin, plugins     string
	cacheDir         string
	serveArgs        stringList
	maxPerPrincipal  int
	tool, input      string
	clients          int
	duration, warmup time.Duration
	startTimeout     time.Duration
	cpuProfile       string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: go run ./bench/load [flags]

Starts bin/capstream serve --dev with the bundled tools on a free loopback port (or, with -url and
-token, uses a server already running), then runs -clients clients of one principal, each making
back-to-back streamed calls of -tool for -duration after -warmup, and reports calls/s, latency and
failures by kind. Exits with status 1 if any call failed.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "", "base URL of a running server (with -token); empty: start one")
	fs.StringVar(&o.token, "token", "", "bearer token of the principal, with -url (capstream token --sub alice --role analyst ...)")
	fs.StringVar(&o.bin, "bin", "bin/capstream", "the capstream binary to start (make build)")
	fs.StringVar(&o.plugins, "plugins", "plugins/wasm", "the tool directory of the server it starts (make plugins)")
	fs.StringVar(&o.cacheDir, "cache-dir", ".capstream/cache", "compilation cache of the server it starts (shared with make run; the rest of its data directory is temporary)")
	fs.Var(&o.serveArgs, "serve-arg", "an extra flag for capstream serve, e.g. -serve-arg=--cpuprofile=cpu.pprof (repeatable)")
	fs.IntVar(&o.maxPerPrincipal, "max-calls-per-principal", 0, "--max-calls-per-principal of the server it starts; 0: the number of clients")
	fs.StringVar(&o.tool, "tool", "echo", "the tool to call")
	fs.StringVar(&o.input, "input", `{"text":"bench"}`, "the input of every call (a JSON object)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients, each with its own keep-alive connection, all one principal")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long to call before measuring; calls then are not counted")
	fs.DurationVar(&o.startTimeout, "start-timeout", 2*time.Minute, "how long the server it starts may take to be ready (a cold cache compiles every tool)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the load tool itself to this file (for the server's: -serve-arg=--cpuprofile=FILE)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q; every option is a flag (see -help)", fs.Args())
	case o.clients < 1:
		return o, fmt.Errorf("-clients must be at least 1, got %d", o.clients)
	case o.duration <= 0:
		return o, fmt.Errorf("-duration must be positive, got %v", o.duration)
	case o.warmup < 0:
		return o, fmt.Errorf("-warmup must not be negative, got %v", o.warmup)
	case o.maxPerPrincipal < 0:
		return o, fmt.Errorf("-max-calls-per-principal must not be negative, got %d", o.maxPerPrincipal)
	case o.url == "" && o.token != "":
		return o, errors.New("-token is for a server given with -url; the server this tool starts prints its own")
	case o.url != "" && o.token == "":
		return o, errors.New("-url needs -token: a token whose roles may call the tool (capstream token --sub alice --role analyst --secret-file DATA_DIR/dev-secret)")
	case o.url != "" && (len(o.serveArgs) > 0 || o.maxPerPrincipal != 0):
		return o, errors.New("-serve-arg and -max-calls-per-principal configure the server this tool starts; leave them out with -url")
	}
	if !strings.HasPrefix(strings.TrimSpace(o.input), "{") {
		return o, fmt.Errorf("-input must be a JSON object, got %q", o.input)
	}
	if o.maxPerPrincipal == 0 {
		o.maxPerPrincipal = o.clients
	}
	o.url = strings.TrimSuffix(o.url, "/")
	return o, nil
}

// run starts the server unless one is given, measures, and prints the
// report to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	base, token, what := o.url, o.token, "given with -url"
	pid := 0
	if base == "" {
		srv, err := startServer(ctx, serverConfig{
			bin: o.bin, plugins: o.plugins, cacheDir: o.cacheDir,
			maxPerPrincipal: o.maxPerPrincipal, extra: o.serveArgs, timeout: o.startTimeout,
		}, stderr)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.stop(); err != nil {
				fmt.Fprintln(stderr, "load:", err)
			}
		}()
		base, token, what = srv.url, srv.token, srv.describe()
		pid = srv.cmd.Process.Pid
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := measure(ctx, loadConfig{
		url: base + "/v1/tools/" + o.tool + "/calls", token: token, input: o.input,
		clients: o.clients, warmup: o.warmup, duration: o.duration, serverPID: pid,
	})
	if err != nil {
		return err
	}
	res.tool, res.server = o.tool, what
	res.write(stdout)
	if res.failures() > 0 {
		return errFailures
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
