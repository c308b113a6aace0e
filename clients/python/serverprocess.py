# Copyright 2026 The ssebridge Authors
# SPDX-License-Identifier: Apache-2.0

"""The ssebridge process under test: the real binary, started on free
loopback ports and stopped with SIGTERM."""

import os
import re
import signal
import subprocess
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# BINARY is the ssebridge executable under test: $SSEBRIDGE_BIN, or
# bin/ssebridge at the root of the repository (make build).
BINARY = os.environ.get("SSEBRIDGE_BIN") or os.path.join(ROOT, "bin", "ssebridge")

START_TIMEOUT = 15
STOP_TIMEOUT = 20

_SERVING = re.compile(r'msg="ssebridge serving".* http=(\S+) grpc=(\S+)')


class ServerProcess:
    """ServerProcess runs `ssebridge serve` on free loopback ports with extra
    flags. The constructor returns once the process has logged the
    addresses it listens on; stop() must be called."""

    def __init__(self, *flags):
        if not os.path.exists(BINARY):
            raise RuntimeError(f"ssebridge binary not found at {BINARY}: run make build, or set SSEBRIDGE_BIN")
        args = [BINARY, "serve", "--dev", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
                "--log-format", "text", *flags]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self._lock = threading.Lock()
        self._logs = []
        self._announced = threading.Event()
        self.http_addr = self.grpc_addr = None
        self._reader = threading.Thread(target=self._read_logs, daemon=True)
        self._reader.start()
        if not self._announced.wait(START_TIMEOUT) or self.grpc_addr is None:
            self._proc.kill()
            self._proc.wait()
            self._reader.join(5)
            self._proc.stderr.close()
            raise RuntimeError(f"ssebridge did not announce its listeners (exit code {self._proc.returncode}):\n{self.logs()}")

    def _read_logs(self):
        for line in self._proc.stderr:
            with self._lock:
                self._logs.append(line.rstrip("\n"))
            m = _SERVING.search(line)
            if m and not self._announced.is_set():
                self.http_addr, self.grpc_addr = m.group(1), m.group(2)
                self._announced.set()
        self._announced.set()  # the process ended: stop waiting

    def logs(self):
        """logs returns what the process has logged so far."""
        with self._lock:
            return "\n".join(self._logs)

    def stop(self):
        """stop sends SIGTERM and waits for the process to exit; it raises
        unless the exit status is 0. Calling it again does nothing more."""
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise AssertionError(f"ssebridge did not exit within {STOP_TIMEOUT}s of SIGTERM:\n{self.logs()}")
            self._reader.join(5)
            self._proc.stderr.close()
        if self._proc.returncode != 0:
            raise AssertionError(f"ssebridge exited with {self._proc.returncode}, want 0:\n{self.logs()}")
