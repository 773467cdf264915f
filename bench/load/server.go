package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverConfig is how startServer runs capstream serve.
type serverConfig struct {
	bin, plugins, cacheDir string
	maxPerPrincipal        int
	extra                  []string // more flags for serve
	timeout                time.Duration
}

// server is a capstream serve process started by startServer.
type server struct {
	cmd     *exec.Cmd
	args    []string
	dataDir string
	logFile *os.File
	lastLog string     // the end of the log, kept by cleanup
	exited  chan error // the process's exit, once
	url     string
	token   string // alice's, from the dev banner
}

var (
	bannerURL   = regexp.MustCompile(`running in dev mode at (http://\S+)`)
	bannerAlice = regexp.MustCompile(`export ALICE=(\S+)`)
)

// startServer starts capstream serve in dev mode on a free loopback port,
// with a temporary data directory (the compilation cache excepted), its
// stderr in a file there, and waits until it reports ready. Dev mode
// prints a token for alice (role analyst), the principal of every call.
func startServer(ctx context.Context, cfg serverConfig, stderr io.Writer) (*server, error) {
	if _, err := os.Stat(cfg.bin); err != nil {
		return nil, fmt.Errorf("the capstream binary: %w (run make build, or give -bin)", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.plugins, "echo.wasm")); err != nil {
		return nil, fmt.Errorf("the bundled tools: %w (run make plugins, or give -plugins)", err)
	}
	dataDir, err := os.MkdirTemp("", "capstream-load-")
	if err != nil {
		return nil, err
	}
	s := &server{dataDir: dataDir, exited: make(chan error, 1)}
	s.args = []string{"serve", "--dev", "--plugins", cfg.plugins, "--data-dir", dataDir,
		"--addr", "127.0.0.1:0", "--max-calls-per-principal", strconv.Itoa(cfg.maxPerPrincipal)}
	if cfg.cacheDir != "" {
		s.args = append(s.args, "--cache-dir", cfg.cacheDir)
	}
	s.args = append(s.args, cfg.extra...)
	if s.logFile, err = os.Create(filepath.Join(dataDir, "server.log")); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	// Not exec.CommandContext: the server is stopped with SIGTERM, so that
	// it drains and writes what it writes at exit (a CPU profile).
	s.cmd = exec.Command(cfg.bin, s.args...)
	s.cmd.Stderr = s.logFile
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("starting %s: %w", cfg.bin, err)
	}
	go func() { s.exited <- s.cmd.Wait() }()

	banner := make(chan [2]string, 1)
	go readBanner(out, banner)
	fail := func(err error) (*server, error) {
		s.stop()
		return nil, fmt.Errorf("%w\n%s", err, s.lastLog)
	}
	timeout := time.NewTimer(cfg.timeout)
	defer timeout.Stop()
	select {
	case b := <-banner:
		s.url, s.token = b[0], b[1]
	case err := <-s.exited:
		s.exited <- err
		return fail(fmt.Errorf("capstream serve exited before it was ready (%v); its log:", err))
	case <-timeout.C:
		return fail(fmt.Errorf("capstream serve was not ready within %v (-start-timeout); its log:", cfg.timeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if s.url == "" || s.token == "" {
		return fail(errors.New("capstream serve printed no dev banner with a URL and a token for alice; its log:"))
	}
	if err := waitReady(ctx, s.url, timeout.C); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stderr, "load: capstream serve is ready at %s\n", s.url)
	return s, nil
}

// readBanner reads the dev banner from the server's stdout and sends its
// URL and alice's token, or empty strings if stdout ends first. It reads
// (and drops) the rest, so the server never blocks writing.
func readBanner(out io.Reader, banner chan<- [2]string) {
	sc := bufio.NewScanner(out)
	var url, token string
	sent := false
	for sc.Scan() {
		line := sc.Text()
		if m := bannerURL.FindStringSubmatch(line); m != nil {
			url = m[1]
		}
		if m := bannerAlice.FindStringSubmatch(line); m != nil {
			token = m[1]
		}
		if !sent && url != "" && token != "" {
			banner <- [2]string{url, token}
			sent = true
		}
	}
	if !sent {
		banner <- [2]string{}
	}
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, url string, timeout <-chan time.Time) error {
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-timeout:
			return fmt.Errorf("%s/readyz did not answer 200 in time (-start-timeout); its log:", url)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// describe names the server for the report.
func (s *server) describe() string {
	return s.cmd.Path + " " + strings.Join(s.args, " ")
}

// stop ends the server with SIGTERM (then SIGKILL, if it has not exited
// within 30 s) and removes its data directory. It returns an error if the
// server exited with an error of its own.
func (s *server) stop() error {
	defer s.cleanup()
	if s.cmd.Process == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			return fmt.Errorf("capstream serve: %v; its log:\n%s", err, s.logTail())
		}
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		err := <-s.exited
		s.exited <- err
		return fmt.Errorf("capstream serve did not stop within 30 s of SIGTERM; killed")
	}
}

// cleanup keeps the end of the server's log in lastLog, then removes the
// data directory.
func (s *server) cleanup() {
	if s.logFile != nil {
		s.lastLog = s.logTail()
		s.logFile.Close()
	}
	os.RemoveAll(s.dataDir)
}

// logTail returns the last lines of the server's log.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logFile.Name())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
