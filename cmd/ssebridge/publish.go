package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// maxStdinData bounds the data "publish --data -" reads; the service's own
// limit (--max-data-bytes) is usually far lower.
const maxStdinData = 64 << 20

// timeLayout is how the commands print times: RFC 3339 in UTC, to the
// millisecond.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// jsonOutput is the JSON mapping the commands print with --json: the
// proto field names, every field, as the REST API writes them.
var jsonOutput = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// publishCommand runs "ssebridge publish": it publishes one event over
// gRPC and prints its id, sequence and time.
func publishCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	var (
		client  clientFlags
		req     ssebridgev1.PublishRequest
		timeout time.Duration
		asJSON  bool
	)
	fs := flag.NewFlagSet("ssebridge publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client.register(fs)
	fs.StringVar(&req.Topic, "topic", "", "topic to publish to (required)")
	fs.StringVar(&req.Type, "type", "", "event type (empty: the default type, message)")
	fs.StringVar(&req.Data, "data", "", `event data; "-" reads it from standard input, without its last line break`)
	fs.StringVar(&req.IdempotencyKey, "idempotency-key", "", "publish at most once per key and topic within the service's --idempotency-window")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "time allowed for the call")
	fs.BoolVar(&asJSON, "json", false, "print the result as one line of JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ssebridge publish --topic T [--type X] --data DATA|- [flags]\n\n"+
			"Publishes one event over gRPC and prints: ID sequence=N time=T [duplicate].\n"+
			"Every flag has an environment variable: --addr is SSEBRIDGE_ADDR.\n\n")
		fs.PrintDefaults()
	}
	if err := parseCommandFlags(fs, args, lookupEnv); err != nil {
		return err
	}
	switch {
	case req.Topic == "":
		return errors.New("publish: --topic is required")
	case timeout <= 0:
		return errors.New("publish: --timeout must be positive")
	}
	if req.Data == "-" {
		data, err := readData(stdin)
		if err != nil {
			return fmt.Errorf("publish: reading the data from standard input: %w", err)
		}
		req.Data = data
	}

	events, closeConn, err := client.connect()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(client.outgoing(ctx), timeout)
	defer cancel()
	resp, err := events.Publish(ctx, &req)
	if err != nil {
		return client.rpcError("publish to "+req.Topic, err)
	}
	if asJSON {
		b, err := jsonOutput.Marshal(resp)
		if err != nil {
			return fmt.Errorf("publish: encoding the response: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", compactJSON(b))
		return err
	}
	line := fmt.Sprintf("%s sequence=%d time=%s", resp.GetId(), resp.GetSequence(), resp.GetTime().AsTime().UTC().Format(timeLayout))
	if resp.GetDuplicate() {
		line += " duplicate"
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}

// readData reads event data from r, up to maxStdinData bytes, and drops one
// final line break (LF or CRLF), as echo and most editors add one.
func readData(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxStdinData+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxStdinData {
		return "", fmt.Errorf("more than %d bytes", maxStdinData)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}
