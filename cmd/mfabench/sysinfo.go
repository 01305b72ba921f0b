package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where the figures were taken.
type Machine struct {
	Cores     int     `json:"cores"`
	CPU       string  `json:"cpu"`
	MemoryMB  int     `json:"memory_mb"`
	GoVersion string  `json:"go_version"`
	OS        string  `json:"os"`
	Kernel    string  `json:"kernel"`
	Disk      string  `json:"disk"`           // the filesystem holding the SQLite file
	FsyncMS   float64 `json:"fsync_p50_ms"`   // a 4 KiB write + fdatasync there, median
	Fsync99MS float64 `json:"fsync_p99_ms"`   // and its 99th percentile
	Client    string  `json:"client_process"` // where the load generator runs
	LoadStart string  `json:"loadavg_start"`  // /proc/loadavg when the run started
	LoadEnd   string  `json:"loadavg_end"`    // and when it ended
}

// loadAvg is the 1, 5 and 15-minute load averages: other work on the
// machine skews every figure.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func machineInfo(dir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb, _ := strconv.Atoi(f[1])
					m.MemoryMB = kb / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if dir != "" {
		m.Disk = diskOf(dir)
		m.FsyncMS, m.Fsync99MS = fsyncProbe(dir)
	}
	return m
}

// diskOf names the mount (device, type, mount point) holding dir.
func diskOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, desc := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, desc = mp, fmt.Sprintf("%s (%s) on %s", f[0], f[2], mp)
		}
	}
	if rot := rotational(desc); rot != "" {
		desc += ", " + rot
	}
	return desc
}

func rotational(desc string) string {
	dev := strings.Fields(desc)
	if len(dev) == 0 || !strings.HasPrefix(dev[0], "/dev/") {
		return ""
	}
	name := strings.TrimPrefix(dev[0], "/dev/")
	for len(name) > 0 {
		if b, err := os.ReadFile("/sys/block/" + name + "/queue/rotational"); err == nil {
			if strings.TrimSpace(string(b)) == "0" {
				return "non-rotational"
			}
			return "rotational"
		}
		name = name[:len(name)-1] // vda1 -> vda
	}
	return ""
}

// fsyncProbe times 200 appends of 4 KiB each followed by fdatasync, as a
// SQLite commit in WAL mode with synchronous=FULL does.
func fsyncProbe(dir string) (p50, p99 float64) {
	f, err := os.CreateTemp(dir, ".fsync-probe-*")
	if err != nil {
		return 0, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := bytes.Repeat([]byte{0xa5}, 4096)
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		if _, err := f.Write(page); err != nil {
			return 0, 0
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return ms(percentile(lat, 50)), ms(percentile(lat, 99))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procMem returns VmRSS and VmHWM of process pid in MiB (0: unknown).
func procMem(pid int) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"VmRSS:", "VmHWM:"} {
			if strings.HasPrefix(line, k) {
				fs := strings.Fields(line)
				if len(fs) >= 2 {
					kb, _ := strconv.ParseFloat(fs[1], 64)
					if k == "VmRSS:" {
						rss = kb / 1024
					} else {
						hwm = kb / 1024
					}
				}
			}
		}
	}
	return rss, hwm
}

// resetPeak resets the VmHWM of pid (Linux: clear_refs 5), so a peak
// covers one phase only. It reports whether it could.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// clkTck is USER_HZ, the unit of /proc CPU times; 100 on every Linux
// platform Go supports.
const clkTck = 100

// procCPU returns the user+system CPU time used so far by pid (the
// harness's own process through getrusage, another through /proc).
func procCPU(pid int) time.Duration {
	if pid == os.Getpid() {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * time.Second / clkTck
}

// machineCPU returns the CPU time the whole machine spent busy so far
// (every core, every process: server, client, PostgreSQL).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clkTck
}

// sourceFingerprint identifies the server code a run measured, when the
// harness runs inside the repository: a hash of every non-test .go and .sql
// file of the module but the clients' and the harness's, the newest
// modification time among them, and the VCS revision the harness was built
// from (when the toolchain stamped one).
func sourceFingerprint() string {
	var parts []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified == "true" {
				rev += " with uncommitted changes"
			}
			parts = append(parts, "revision "+rev)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return strings.Join(parts, "; ")
	}
	h := sha256.New()
	n := 0
	var newest time.Time
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", "testdata", "client", filepath.Join("cmd", "mfabench"), filepath.Join("cmd", "mfactl"):
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, ".sql")) || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		n++
		return nil
	})
	parts = append(parts, fmt.Sprintf("server sources sha256 %x (%d files), newest modified %s", h.Sum(nil)[:6], n, newest.UTC().Format(time.RFC3339)))
	return strings.Join(parts, "; ")
}

// postgresCPU sums the CPU time used so far by the processes named
// postgres (the server and its backends) that can be read.
func postgresCPU() time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(b)) != "postgres" {
			continue
		}
		total += procCPU(pid)
	}
	return total
}
