package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runTimeout bounds each run of the tool in these tests.
const runTimeout = 60 * time.Second

// testServer is ssebridge's hub, SSE bridge and gRPC service, wired as
// the binary wires them, on free loopback ports in this process.
type testServer struct {
	httpAddr, grpcAddr string
}

func startServer(t *testing.T, heartbeat time.Duration) *testServer {
	t.Helper()
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.New(server.Config{Broker: hub})
	if err != nil {
		t.Fatal(err)
	}
	sse, err := bridge.New(bridge.Config{Broker: hub, Heartbeat: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	sse.Register(mux)
	hs := httptest.NewServer(mux)
	gs := svc.NewGRPCServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		gs.Serve(ln)
	}()
	t.Cleanup(func() {
		sse.Shutdown()
		svc.Shutdown()
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sse.Wait(ctx); err != nil {
			t.Error(err)
		}
		gs.Stop()
		<-served
		hub.Close()
	})
	return &testServer{httpAddr: hs.Listener.Addr().String(), grpcAddr: ln.Addr().String()}
}

// runJSON runs the tool with args and --json and decodes its report.
func runJSON(t *testing.T, args ...string) *report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, append(args, "--json"), &stdout, &stderr); err != nil {
		t.Fatalf("ssebench %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("ssebench %s\n%s", strings.Join(args, " "), stderr.String())
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("want one JSON line on stdout, got %q", stdout.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "ssebench "+r.Mode) {
		t.Errorf("the table on stderr lacks its title:\n%s", stderr.String())
	}
	return &r
}

// checkDelivery fails unless every subscriber got every event it was due,
// once and in order.
func checkDelivery(t *testing.T, name string, d *deliveryReport) {
	t.Helper()
	switch {
	case d == nil:
		t.Fatalf("%s: no delivery report", name)
	case d.Published == 0 || d.Expected == 0:
		t.Errorf("%s: published %d, expected %d deliveries: nothing measured", name, d.Published, d.Expected)
	case d.Deliveries != d.Expected || d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 ||
		d.GapNotices != 0 || d.Invalid != 0 || d.Disconnects != 0 || !d.Drained:
		t.Errorf("%s: %+v", name, *d)
	case d.LatencyMS.Count != d.Deliveries || d.LatencyMS.Max <= 0:
		t.Errorf("%s: latency %+v for %d deliveries", name, d.LatencyMS, d.Deliveries)
	}
}

func TestFanoutAgainstServer(t *testing.T) {
	srv := startServer(t, 0)
	pid := strconv.Itoa(os.Getpid())
	r := runJSON(t, "--target", srv.httpAddr, "--grpc-target", srv.grpcAddr,
		"--subscribers", "6", "--grpc-subscribers", "2", "--topics", "2", "--rate", "200",
		"--publishers", "2", "--duration", "1s", "--server-pid", pid)
	checkDelivery(t, "server", r.Delivery)
	checkDelivery(t, "ceiling", r.Ceiling)
	if r.RatioToCeiling == nil || *r.RatioToCeiling <= 0 {
		t.Errorf("no ratio to the ceiling: %v", r.RatioToCeiling)
	}
	if c := r.Ceiling; c.PublishPerSec > 2*200 {
		t.Errorf("the ceiling published %v events/s: not the run's workload of 200/s", c.PublishPerSec)
	}
	// 8 subscribers over 2 topics: each event is due to 4 of them.
	if d := r.Delivery; d.Expected != 4*d.Published {
		t.Errorf("expected %d deliveries of %d events to 4 subscribers each", d.Expected, d.Published)
	}
	if p := r.Publish; p == nil || p.Errors != 0 || p.Acked != r.Delivery.Published {
		t.Errorf("publish report %+v", p)
	}
	if s := r.Delivery.Server; s == nil || s.PID != os.Getpid() || s.RSS <= 0 || s.CPUS <= 0 {
		t.Errorf("server resources %+v", s)
	}
	if r.Delivery.Tool.CPUS <= 0 || r.Machine.Cores <= 0 || r.OpenFilesLimit == 0 {
		t.Errorf("tool %+v, machine %+v, open files %d", r.Delivery.Tool, r.Machine, r.OpenFilesLimit)
	}
}

func TestFanoutAsFastAsSubscribersAllow(t *testing.T) {
	srv := startServer(t, 0)
	r := runJSON(t, "--target", srv.httpAddr, "--grpc-target", srv.grpcAddr,
		"--subscribers", "4", "--rate", "0", "--publish-method", "stream", "--publishers", "2",
		"--duration", "500ms", "--ceiling=false")
	checkDelivery(t, "server", r.Delivery)
	if r.MaxAhead != 256 || r.Ceiling != nil || r.RatioToCeiling != nil {
		t.Errorf("max ahead %d, ceiling %v, ratio %v: want 256 and no ceiling", r.MaxAhead, r.Ceiling, r.RatioToCeiling)
	}
}

func TestPublishMode(t *testing.T) {
	srv := startServer(t, 0)
	for _, method := range []string{"unary", "stream"} {
		t.Run(method, func(t *testing.T) {
			r := runJSON(t, "--mode", "publish", "--target", srv.httpAddr, "--grpc-target", srv.grpcAddr,
				"--subscribers", "0", "--rate", "0", "--publish-method", method, "--publishers", "3",
				"--topics", "3", "--duration", "500ms", "--server-pid", strconv.Itoa(os.Getpid()))
			p := r.Publish
			if p == nil || p.Acked == 0 || p.Errors != 0 || p.AckLatencyMS.Count != p.Acked {
				t.Fatalf("publish report %+v", p)
			}
			if p.Server == nil || p.Server.PID != os.Getpid() || p.Server.CPUS <= 0 || p.Tool.CPUS <= 0 {
				t.Errorf("publish resources: server %+v, tool %+v", p.Server, p.Tool)
			}
			if r.Delivery != nil {
				t.Errorf("a delivery report without subscribers: %+v", r.Delivery)
			}
			// The publish ceiling ran first, with the same publishers.
			c := r.PublishCeiling
			if c == nil || c.Acked == 0 || c.Errors != 0 || c.Method != method || c.AckLatencyMS.Count != c.Acked || c.Server != nil {
				t.Fatalf("publish ceiling report %+v", c)
			}
			if want := round(p.AckedPerSec/c.AckedPerSec, 3); r.PublishRatioToCeiling == nil || *r.PublishRatioToCeiling != want {
				t.Errorf("ratio to the publish ceiling = %v, want %v", r.PublishRatioToCeiling, want)
			}
		})
	}
	t.Run("with subscribers", func(t *testing.T) {
		r := runJSON(t, "--mode", "publish", "--target", srv.httpAddr, "--grpc-target", srv.grpcAddr,
			"--subscribers", "3", "--topics", "3", "--rate", "0", "--max-ahead", "128",
			"--publish-method", "stream", "--duration", "500ms")
		checkDelivery(t, "server", r.Delivery)
		if r.PublishCeiling != nil {
			t.Errorf("a publish ceiling with subscribers: %+v", r.PublishCeiling)
		}
	})
}

func TestCeilingMode(t *testing.T) {
	r := runJSON(t, "--mode", "ceiling", "--subscribers", "5", "--topics", "2", "--rate", "0", "--duration", "300ms")
	checkDelivery(t, "ceiling", r.Delivery)
	if r.Delivery.Server != nil || r.Target != "" {
		t.Errorf("ceiling mode reports a server: %+v, target %q", r.Delivery.Server, r.Target)
	}
}

func TestIdleMode(t *testing.T) {
	srv := startServer(t, 50*time.Millisecond)
	r := runJSON(t, "--mode", "idle", "--target", srv.httpAddr, "--subscribers", "20",
		"--duration", "500ms", "--heartbeat", "50ms", "--heartbeat-slack", "1m",
		"--server-pid", strconv.Itoa(os.Getpid()))
	i := r.Idle
	if i == nil || i.Connected != 20 || i.Failed != 0 || i.Disconnects != 0 {
		t.Fatalf("idle report %+v", i)
	}
	// Timing is not asserted (the slack is a minute); that heartbeats
	// arrive and are measured is.
	if i.Heartbeats < 20 || i.HeartbeatIntervalMS.Count != i.Heartbeats || i.MissingHeartbeats != 0 || !i.HeartbeatsOnTime {
		t.Errorf("heartbeats: %+v", i)
	}
	if i.ServerRSSBefore <= 0 || i.ServerRSSAfter <= 0 || i.Server == nil {
		t.Errorf("server memory not measured: %+v", i)
	}
}

func TestRefusesTargetsOffThisMachine(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:8080", "192.168.1.10:80", "example.com:80", "[2001:db8::1]:80", "0.0.0.0:8080", "8080", "127.0.0.1:1,10.0.0.1:8080"} {
		t.Run(addr, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"--target", addr, "--duration", "1s"}, &bytes.Buffer{}, &stderr)
			if err == nil {
				t.Fatalf("--target %s accepted", addr)
			}
			err = run(context.Background(), []string{"--grpc-target", addr, "--duration", "1s"}, &bytes.Buffer{}, &stderr)
			if err == nil {
				t.Fatalf("--grpc-target %s accepted", addr)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1", "127.0.0.1:1,127.0.0.1:2,[::1]:3"} {
		if err := checkLoopback("--target", addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

func TestRefusesUnboundedRuns(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "11m"},
		{"--duration", "0s"},
		{"--subscribers", "50001"},
		{"--rate", "-1"},
		{"--size", "10"},
		{"--publishers", "0"},
		{"--mode", "stress"},
		{"--mode", "idle", "--subscribers", "0"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("ssebench %s: accepted", strings.Join(args, " "))
		}
	}
}
