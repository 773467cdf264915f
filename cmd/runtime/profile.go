package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"go.uber.org/zap"
)

// startCPUProfile starts profiling the process's CPU into file, if file is
// not empty, and returns the function that stops the profile and closes
// the file, logging what goes wrong then.
func startCPUProfile(file string) (stop func(*zap.Logger), err error) {
	if file == "" {
		return func(*zap.Logger) {}, nil
	}
	out, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func(log *zap.Logger) {
		pprof.StopCPUProfile()
		if err := out.Close(); err != nil {
			log.Error("writing the CPU profile", zap.String("file", file), zap.Error(err))
			return
		}
		log.Info("CPU profile written", zap.String("file", file))
	}, nil
}
