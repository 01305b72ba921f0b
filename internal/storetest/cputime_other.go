//go:build !unix

package storetest

import "time"

// cpuTime is 0: the process's CPU time is read on Unix systems only (the
// benchmark then reports logins per second alone).
func cpuTime() time.Duration { return 0 }
