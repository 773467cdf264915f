package main

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// cpuSpan is the CPU time a process used between two samples.
type cpuSpan struct {
	n          int
	start, end time.Duration
}

// sample reads the CPU time (user and system) process pid has used so
// far; the first call starts the span, the second ends it. A pid of zero,
// or one the system does not report, leaves the span unknown.
func (s *cpuSpan) sample(pid int) {
	if pid == 0 {
		return
	}
	d, ok := processCPU(pid)
	if !ok {
		return
	}
	if s.n == 0 {
		s.start = d
	} else {
		s.end = d
	}
	s.n++
}

// used returns the span's CPU time, or zero if it is unknown.
func (s *cpuSpan) used() time.Duration {
	if s.n < 2 {
		return 0
	}
	return s.end - s.start
}

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// processCPU returns the user and system CPU time of process pid, from
// /proc (Linux).
func processCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces; the fields
	// counted from after it are state, ppid, ..., utime (the 12th), stime.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}
