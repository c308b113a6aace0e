package main

import (
	"log/slog"
	"syscall"
)

// raiseOpenFileLimit raises the soft limit on open files to the hard limit
// and logs both: every SSE stream holds a socket, so the soft limit (often
// 1024) would cap the streams one process serves. Go itself raises it at
// start since Go 1.19; this makes the limit visible in the log and covers
// a process whose limit was lowered after it started. A failure is logged
// and otherwise ignored: the service still runs with the limit it has.
func raiseOpenFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-files limit", "err", err)
		return
	}
	before := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-files soft limit", "soft", before, "hard", lim.Max, "err", err)
			return
		}
	}
	log.Info("open-files limit", "soft", lim.Cur, "hard", lim.Max, "raised_from", before)
}
