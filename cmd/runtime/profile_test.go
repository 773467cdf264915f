package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestStartCPUProfile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(file)
	if err != nil {
		t.Fatal(err)
	}
	stop(zap.NewNop())
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Fatalf("the profile: %v, %v", fi, err)
	}

	stop, err = startCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	stop(zap.NewNop()) // nothing to stop

	_, err = startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if err == nil || !strings.HasPrefix(err.Error(), "--cpuprofile: ") {
		t.Errorf("a profile that cannot be written: %v", err)
	}
}
