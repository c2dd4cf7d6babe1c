package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go builds for.
const clockTicks = 100

// procCPU is the CPU time process pid ("self" for this one) has used so
// far, user and system, from /proc/PID/stat.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields counted are those after its closing parenthesis, where
	// utime and stime are the 12th and 13th (fields 14 and 15 of proc(5)).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat has no command name: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat is short: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return ticks(utime + stime), nil
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// machineBusy is the CPU time all CPUs have spent busy so far, from the
// first line of /proc/stat: user, nice, system, irq, softirq and steal
// (guest time is counted in user already).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat starts with %q, not the cpu line", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat's cpu line: %w", err)
		}
		busy += n
	}
	return ticks(busy), nil
}

// othersMeter measures how much of the machine processes other than the
// harness and its servers took during a run: on a shared machine, a run
// beside a busy neighbour says little.
type othersMeter struct {
	own        []*child
	busy, ours time.Duration
}

// mark reads the counters at the start of a run.
func (m *othersMeter) mark() error {
	var err error
	m.busy, m.ours, err = m.read()
	return err
}

// share is the fraction of all CPUs that other processes used since mark,
// over elapsed.
func (m *othersMeter) share(elapsed time.Duration, cpus int) (float64, error) {
	busy, ours, err := m.read()
	if err != nil {
		return 0, err
	}
	others := (busy - m.busy) - (ours - m.ours)
	// The counters tick at 10 ms and are read a moment apart: the share is
	// kept within 0 and 1.
	return min(max(others.Seconds()/(elapsed.Seconds()*float64(cpus)), 0), 1), nil
}

func (m *othersMeter) read() (busy, ours time.Duration, err error) {
	if busy, err = machineBusy(); err != nil {
		return 0, 0, err
	}
	if ours, err = procCPU("self"); err != nil {
		return 0, 0, err
	}
	for _, c := range m.own {
		d, err := c.cpu()
		if err != nil {
			return 0, 0, err
		}
		ours += d
	}
	return busy, ours, nil
}
