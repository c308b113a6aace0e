package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// buildBinary builds the real ssebridge binary into a directory of t.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ssebridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// process is a real ssebridge process, killed when the test ends if it
// still runs.
type process struct {
	cmd                *exec.Cmd
	httpAddr, grpcAddr string // from its "ssebridge serving" log line
	logs               *syncBuffer
	exited             chan error // receives cmd.Wait's result, once
}

// startProcess runs bin with args (which must make it log in text) and
// waits until it has announced its listeners.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), logs: &syncBuffer{}, exited: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		err := <-p.exited
		p.exited <- err
		if t.Failed() {
			t.Logf("logs of %s:\n%s", p.httpAddr, p.logs)
		}
	})
	addrs := make(chan [2]string, 1)
	go func() {
		serving := regexp.MustCompile(`msg="ssebridge serving" http=(\S+) grpc=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- [2]string{m[1], m[2]}
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	select {
	case a := <-addrs:
		p.httpAddr, p.grpcAddr = a[0], a[1]
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("ssebridge exited early: %v\n%s", err, p.logs)
	case <-time.After(waitTimeout):
		t.Fatalf("ssebridge did not announce its listeners:\n%s", p.logs)
	}
	return p
}
