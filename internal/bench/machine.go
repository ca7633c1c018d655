package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the numbers were measured.
type Machine struct {
	CPU       string
	Cores     int
	MemoryMiB int64
	GoVersion string
	OS        string
	Date      time.Time
}

// ThisMachine reads the CPU model and memory from /proc (Linux).
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if kb, err := procStatusField("/proc/meminfo", "MemTotal"); err == nil {
		m.MemoryMiB = kb / 1024
	}
	if m.CPU == "" {
		m.CPU = "unknown CPU"
	}
	return m
}

// RSS is a process's resident set size now (VmRSS) and at its peak (VmHWM), in KiB.
type RSS struct {
	CurrentKiB int64
	PeakKiB    int64
}

// ProcessRSS reads /proc/<pid>/status; pid 0 means this process.
func ProcessRSS(pid int) (RSS, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	cur, err := procStatusField(path, "VmRSS")
	if err != nil {
		return RSS{}, err
	}
	peak, err := procStatusField(path, "VmHWM")
	if err != nil {
		return RSS{}, err
	}
	return RSS{CurrentKiB: cur, PeakKiB: peak}, nil
}

// procStatusField reads a "Name:   1234 kB" line of a /proc file, in kB.
func procStatusField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s line", path, name)
}

// MiB formats KiB as MiB with one decimal.
func MiB(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
