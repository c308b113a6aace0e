package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the result of one run, printed as one JSON line and as a
// table. Durations are in milliseconds, sizes in bytes unless the name
// says otherwise.
type report struct {
	Mode    string  `json:"mode"`
	Label   string  `json:"label,omitempty"`
	Time    string  `json:"time"`
	Machine machine `json:"machine"`
	Target  string  `json:"target,omitempty"`
	// RPCPath is the route of the rpc mode's streams.
	RPCPath string `json:"rpc_path,omitempty"`

	Subscribers     int     `json:"subscribers"`
	GRPCSubscribers int     `json:"grpc_subscribers,omitempty"`
	Topics          int     `json:"topics"`
	Rate            float64 `json:"rate"`
	Size            int     `json:"size"`
	DurationS       float64 `json:"duration_s"`
	Publishers      int     `json:"publishers,omitempty"`
	PublishMethod   string  `json:"publish_method,omitempty"`
	MaxAhead        int     `json:"max_ahead,omitempty"`

	// Delivery is the run against the server (fanout, publish with
	// subscribers) or against the ceiling server (ceiling mode).
	Delivery *deliveryReport `json:"delivery,omitempty"`
	// Ceiling is the ceiling measured in the same fanout run, and
	// RatioToCeiling the server's deliveries per second over the
	// ceiling's.
	Ceiling        *deliveryReport `json:"ceiling,omitempty"`
	RatioToCeiling *float64        `json:"ratio_to_ceiling,omitempty"`
	Publish        *publishReport  `json:"publish,omitempty"`
	// PublishCeiling is, in publish mode without subscribers, the same
	// publishers against a gRPC server inside the tool that acknowledges
	// every event at once, and PublishRatioToCeiling the server's
	// acknowledged events per second over the ceiling's.
	PublishCeiling        *publishReport `json:"publish_ceiling,omitempty"`
	PublishRatioToCeiling *float64       `json:"publish_ratio_to_ceiling,omitempty"`
	Idle                  *idleReport    `json:"idle,omitempty"`
	// OpenFilesLimit is the tool's soft limit on open files after raising
	// it.
	OpenFilesLimit uint64 `json:"open_files_limit"`
}

type deliveryReport struct {
	// Published counts the events acknowledged by the server (or written
	// by the ceiling server); PublishPerSec is their rate.
	Published     uint64  `json:"published"`
	PublishPerSec float64 `json:"publish_per_sec"`
	// Expected is the deliveries due: each subscriber, the events
	// published to its topic.
	Expected         uint64  `json:"expected"`
	Deliveries       uint64  `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Lost             uint64  `json:"lost"`
	Duplicated       uint64  `json:"duplicated"`
	OutOfOrder       uint64  `json:"out_of_order"`
	GapNotices       uint64  `json:"gap_notices"`
	Invalid          uint64  `json:"invalid"`
	// Disconnects counts subscribers whose stream ended before the tool
	// closed it (a slow subscriber, for instance); DisconnectError is the
	// first reason.
	Disconnects     int             `json:"disconnects"`
	DisconnectError string          `json:"disconnect_error,omitempty"`
	Drained         bool            `json:"drained"`
	Overloaded      bool            `json:"overloaded"`
	LatencyMS       latencyReport   `json:"latency_ms"`
	ElapsedS        float64         `json:"elapsed_s"`
	Server          *resourceReport `json:"server,omitempty"`
	Tool            resourceReport  `json:"tool"`
}

type publishReport struct {
	Method       string          `json:"method"`
	Acked        uint64          `json:"acked"`
	AckedPerSec  float64         `json:"acked_per_sec"`
	Errors       uint64          `json:"errors"`
	FirstError   string          `json:"first_error,omitempty"`
	AckLatencyMS latencyReport   `json:"ack_latency_ms"`
	Server       *resourceReport `json:"server,omitempty"`
	Tool         resourceReport  `json:"tool"`
}

type idleReport struct {
	Connected           int             `json:"connected"`
	Failed              int             `json:"failed"`
	FirstError          string          `json:"first_error,omitempty"`
	ConnectS            float64         `json:"connect_s"`
	Disconnects         int             `json:"disconnects"`
	ServerRSSBefore     int64           `json:"server_rss_before"`
	ServerRSSAfter      int64           `json:"server_rss_after"`
	ServerBytesPerConn  float64         `json:"server_bytes_per_conn"`
	MetricsBefore       *goMemStats     `json:"metrics_before,omitempty"`
	MetricsAfter        *goMemStats     `json:"metrics_after,omitempty"`
	HeapBytesPerConn    float64         `json:"heap_bytes_per_conn,omitempty"`
	StackBytesPerConn   float64         `json:"stack_bytes_per_conn,omitempty"`
	GoroutinesPerConn   float64         `json:"goroutines_per_conn,omitempty"`
	Heartbeats          uint64          `json:"heartbeats"`
	HeartbeatIntervalMS latencyReport   `json:"heartbeat_interval_ms"`
	LateHeartbeats      uint64          `json:"late_heartbeats"`
	MissingHeartbeats   int             `json:"missing_heartbeats"`
	HeartbeatsOnTime    bool            `json:"heartbeats_on_time"`
	Server              *resourceReport `json:"server,omitempty"`
	Tool                resourceReport  `json:"tool"`
}

type latencyReport struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func latencyOf(h *histogram) latencyReport {
	return latencyReport{
		Count: h.count(),
		Mean:  ms(h.mean()),
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		Max:   ms(h.max),
	}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// resourceReport is a process's use of the machine over a run.
type resourceReport struct {
	PID      int     `json:"pid,omitempty"`
	CPUS     float64 `json:"cpu_s"`
	CPUCores float64 `json:"cpu_cores"` // CPU seconds per second of the run
	RSS      int64   `json:"rss,omitempty"`
	PeakRSS  int64   `json:"peak_rss,omitempty"`
	Threads  int     `json:"threads,omitempty"`
}

// writeJSON writes r as one line.
func (r *report) writeJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable writes r for people.
func (r *report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", name, fmt.Sprintf(format, args...))
	}
	title := "ssebench " + r.Mode
	if r.Label != "" {
		title += " (" + r.Label + ")"
	}
	fmt.Fprintln(tw, title)
	row("when", "%s, load average %s", r.Time, r.Machine.LoadAvg1)
	row("machine", "%s, %d cores, %s", r.Machine.CPU, r.Machine.Cores, r.Machine.Go)
	load := fmt.Sprintf("%d SSE subscribers", r.Subscribers)
	if r.GRPCSubscribers > 0 {
		load += fmt.Sprintf(" + %d gRPC", r.GRPCSubscribers)
	}
	rate := "as fast as acks allow"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g events/s", r.Rate)
	}
	if r.MaxAhead > 0 {
		rate += fmt.Sprintf(", at most %d ahead of the slowest subscriber", r.MaxAhead)
	}
	held := time.Duration(r.DurationS * float64(time.Second))
	switch r.Mode {
	case "idle":
		row("load", "%s, %d topic(s), held idle for %v", load, r.Topics, held)
	case "rpc": // the backend sets sizes and rates
		row("load", "%d streams of GET %s, %v", r.Subscribers, r.RPCPath, held)
	default:
		row("load", "%s, %d topic(s), %d-byte events, %s, %v", load, r.Topics, r.Size, rate, held)
	}
	if r.Publishers > 0 && r.Mode != "ceiling" && r.Mode != "idle" {
		row("publishers", "%d %s", r.Publishers, r.PublishMethod)
	}
	if r.Ceiling != nil {
		writeDelivery(row, "ceiling", r.Ceiling)
	}
	if r.Delivery != nil {
		name := "ssebridge"
		if r.Mode == "ceiling" {
			name = "ceiling"
		}
		writeDelivery(row, name, r.Delivery)
	}
	if r.RatioToCeiling != nil {
		note := ""
		if r.Rate > 0 {
			note = " (at a fixed rate both deliver what is published: compare the latencies)"
		}
		row("ratio to ceiling", "%.1f%% of the ceiling's deliveries/s%s", *r.RatioToCeiling*100, note)
	}
	if p := r.PublishCeiling; p != nil {
		row("publish ceiling", "%d acked (%s), %.0f/s, %d errors %s", p.Acked, p.Method, p.AckedPerSec, p.Errors, p.FirstError)
		row("  ack latency ms", "%s", p.AckLatencyMS)
		writeResources(row, nil, p.Tool)
	}
	if p := r.Publish; p != nil {
		row("publish", "%d acked (%s), %.0f/s, %d errors %s", p.Acked, p.Method, p.AckedPerSec, p.Errors, p.FirstError)
		row("ack latency ms", "%s", p.AckLatencyMS)
		if r.Delivery == nil {
			writeResources(row, p.Server, p.Tool)
		}
	}
	if r.PublishRatioToCeiling != nil {
		row("ratio to ceiling", "%.1f%% of the publish ceiling's acknowledged events/s", *r.PublishRatioToCeiling*100)
	}
	if i := r.Idle; i != nil {
		row("connections", "%d open, %d failed %s, %d dropped; opened in %.1fs", i.Connected, i.Failed, i.FirstError, i.Disconnects, i.ConnectS)
		row("server memory", "RSS %s before, %s after: %.0f bytes (%.2f KiB) per connection",
			mib(i.ServerRSSBefore), mib(i.ServerRSSAfter), i.ServerBytesPerConn, i.ServerBytesPerConn/1024)
		if i.MetricsAfter != nil {
			row("  of which", "heap %.0f B, stacks %.0f B, %.2f goroutines per connection",
				i.HeapBytesPerConn, i.StackBytesPerConn, i.GoroutinesPerConn)
		}
		row("heartbeats", "%d, %d late, %d connections without one; on time: %v", i.Heartbeats, i.LateHeartbeats, i.MissingHeartbeats, i.HeartbeatsOnTime)
		row("  intervals ms", "%s", i.HeartbeatIntervalMS)
		writeResources(row, i.Server, i.Tool)
	}
	row("open files limit", "%d", r.OpenFilesLimit)
	return tw.Flush()
}

func writeDelivery(row func(string, string, ...any), name string, d *deliveryReport) {
	row(name, "%.0f deliveries/s (%d of %d expected), %d published at %.0f/s", d.DeliveriesPerSec, d.Deliveries, d.Expected, d.Published, d.PublishPerSec)
	row("  correctness", "lost %d, duplicated %d, out of order %d, gap notices %d, invalid %d, disconnects %d %s",
		d.Lost, d.Duplicated, d.OutOfOrder, d.GapNotices, d.Invalid, d.Disconnects, d.DisconnectError)
	if d.Overloaded || !d.Drained {
		row("  overloaded", "%v (drained: %v)", d.Overloaded, d.Drained)
	}
	row("  latency ms", "%s", d.LatencyMS)
	writeResources(row, d.Server, d.Tool)
}

func writeResources(row func(string, string, ...any), server *resourceReport, tool resourceReport) {
	if server != nil {
		row("  server", "pid %d: %.2f CPU s (%.2f cores), RSS %s, peak %s, %d threads",
			server.PID, server.CPUS, server.CPUCores, mib(server.RSS), mib(server.PeakRSS), server.Threads)
	}
	row("  load tool", "%.2f CPU s (%.2f cores)", tool.CPUS, tool.CPUCores)
}

func (l latencyReport) String() string {
	return fmt.Sprintf("p50 %.3f, p90 %.3f, p99 %.3f, max %.3f, mean %.3f (n=%d)", l.P50, l.P90, l.P99, l.Max, l.Mean, l.Count)
}

func mib(b int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(b)/(1<<20)), ".0") + " MiB"
}
