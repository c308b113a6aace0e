package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// Delays before subscribe resumes a stream that ended: the first, and the
// longest, which the delay doubles up to while the service stays away.
const (
	resumeDelay    = 500 * time.Millisecond
	maxResumeDelay = 10 * time.Second
)

// topicList is a repeatable flag of topics; each value may also list
// several, separated by commas (which no topic contains), as an
// environment variable does.
type topicList struct {
	topics []string
	// defaults is set when topics came from the environment: the first
	// topic of the command line replaces them.
	defaults bool
}

func (l *topicList) String() string { return strings.Join(l.topics, ",") }

// markDefaults makes the topics so far defaults, replaced by the next Set.
func (l *topicList) markDefaults() { l.defaults = len(l.topics) > 0 }

func (l *topicList) Set(s string) error {
	if l.defaults {
		l.topics, l.defaults = nil, false
	}
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			l.topics = append(l.topics, t)
		}
	}
	return nil
}

// subscribeCommand runs "ssebridge subscribe": it subscribes over gRPC and
// prints each event as it arrives, one line each, until ctx ends (SIGINT),
// which is a normal end. A stream the service ends (at shutdown, or for a
// subscriber too slow to keep up) is resumed after the last event printed,
// as EventSource does; other errors end the command.
func subscribeCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	var (
		client clientFlags
		topics topicList
		cursor string
		asJSON bool
	)
	fs := flag.NewFlagSet("ssebridge subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client.register(fs)
	fs.Var(&topics, "topic", "topic to subscribe to (required); repeat it, or separate topics with commas, for several")
	fs.StringVar(&cursor, "last-event-id", "", `start after this event id; "earliest" replays everything retained (empty: new events only)`)
	fs.BoolVar(&asJSON, "json", false, `print each message as one line of JSON: {"event":{...}} or {"gap":{...}}`)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ssebridge subscribe --topic T [--topic U] [--last-event-id ID] [flags]\n\n"+
			"Prints each event as it arrives: TIME TOPIC #SEQUENCE TYPE ID DATA, and gap notices\n"+
			"as lines starting with \"--- gap\". Ends on SIGINT; resumes by itself when the\n"+
			"service ends the stream. Every flag has an environment variable: --addr is SSEBRIDGE_ADDR.\n\n")
		fs.PrintDefaults()
	}
	if err := parseCommandFlags(fs, args, lookupEnv); err != nil {
		return err
	}
	if len(topics.topics) == 0 {
		return errors.New("subscribe: --topic is required")
	}

	events, closeConn, err := client.connect()
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer closeConn()
	write := printEvent
	if asJSON {
		write = printJSON
	}
	s := &subscriber{
		events: events, topics: topics.topics, cursor: cursor,
		print: func(m *ssebridgev1.SubscribeResponse) error { return write(stdout, m) },
		started: func(cursor string) {
			from := "new events"
			if cursor != "" {
				from = "after " + cursor
			}
			fmt.Fprintf(stderr, "ssebridge subscribe: subscribed to %s at %s, %s\n", strings.Join(topics.topics, ", "), client.Addr, from)
		},
	}
	delay := resumeDelay
	for {
		err := s.stream(client.outgoing(ctx))
		if ctx.Err() != nil {
			return nil // interrupted: the normal end
		}
		if !s.accepted || !resumable(err) {
			return client.rpcError("subscribe to "+strings.Join(s.topics, ", "), err)
		}
		if s.received {
			delay = resumeDelay
		}
		after := "from the start"
		if s.cursor != "" {
			after = "after " + s.cursor
		}
		fmt.Fprintf(stderr, "ssebridge subscribe: the stream ended (%v); resuming %s in %v\n", streamEnd(err), after, delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, maxResumeDelay)
	}
}

// subscriber is one run of "ssebridge subscribe": the position it resumes
// from, and what it has seen.
type subscriber struct {
	events ssebridgev1.EventServiceClient
	topics []string
	// print prints a message; started is called when the service has
	// accepted a subscription, with the cursor it starts after.
	print   func(*ssebridgev1.SubscribeResponse) error
	started func(cursor string)

	// cursor is the id to resume after: the last one printed, or the
	// --last-event-id given.
	cursor string
	// accepted is set once a stream has been accepted; received when the
	// last stream delivered something.
	accepted, received bool
}

// stream subscribes once and prints what arrives until the stream ends.
func (s *subscriber) stream(ctx context.Context) error {
	s.received = false
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.events.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: s.topics, LastEventId: s.cursor})
	if err != nil {
		return err
	}
	// The service sends its header once the subscription is registered;
	// a refused subscription ends without one.
	if md, err := stream.Header(); err != nil {
		return err
	} else if md != nil {
		s.accepted = true
		s.started(s.cursor)
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		s.accepted, s.received = true, true
		if err := s.print(m); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		if e := m.GetEvent(); e != nil {
			s.cursor = e.GetId()
		} else if g := m.GetGap(); g != nil {
			s.cursor = g.GetId()
		}
	}
}

// resumable reports whether a stream that ended with err should be
// resumed: the service went away or ended it (UNAVAILABLE), or it ended
// without an error.
func resumable(err error) bool {
	return errors.Is(err, io.EOF) || status.Code(err) == codes.Unavailable
}

// streamEnd describes why a stream ended, briefly.
func streamEnd(err error) string {
	if errors.Is(err, io.EOF) {
		return "closed by the service"
	}
	if st, ok := status.FromError(err); ok {
		return codeWords(st.Code()) + ": " + st.Message()
	}
	return err.Error()
}

// printEvent writes m as one readable line:
//
//	2026-01-02T15:04:05.123Z orders #42 created AVD8sA1PNrYDAQ {"id":42}
//	--- gap (cursor_too_old): orders, invoices: events after "X" may be missing; resuming from Y
//
// The type is "message" when the event has none. Data that does not fit on
// one line (a line break, a control character, invalid UTF-8) is printed
// as a Go string literal.
func printEvent(w io.Writer, m *ssebridgev1.SubscribeResponse) error {
	if g := m.GetGap(); g != nil {
		_, err := fmt.Fprintf(w, "--- gap (%s): %s: events after %q may be missing; resuming from %s\n",
			gapReason(g.GetReason()), strings.Join(g.GetTopics(), ", "), g.GetLastEventId(), g.GetId())
		return err
	}
	e := m.GetEvent()
	if e == nil {
		return nil // a message of a newer API: nothing to print
	}
	typ := e.GetType()
	if typ == "" {
		typ = "message"
	}
	_, err := fmt.Fprintf(w, "%s %s #%d %s %s %s\n", e.GetTime().AsTime().UTC().Format(timeLayout),
		e.GetTopic(), e.GetSequence(), typ, e.GetId(), oneLine(e.GetData()))
	return err
}

// gapReason returns the reason's name as the SSE gap notice has it:
// "cursor_too_old" for GAP_REASON_CURSOR_TOO_OLD.
func gapReason(r ssebridgev1.GapReason) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "GAP_REASON_"))
}

// oneLine returns data as it is when it is one line of printable text, and
// quoted otherwise.
func oneLine(data string) string {
	if !utf8.ValidString(data) || strings.IndexFunc(data, unicode.IsControl) >= 0 {
		return strconv.Quote(data)
	}
	return data
}

// printJSON writes m as one line of JSON, the proto JSON mapping with proto
// field names: {"event":{"id":...,"topic":...,"sequence":"1",...}} or
// {"gap":{"reason":"GAP_REASON_CURSOR_TOO_OLD",...}}.
func printJSON(w io.Writer, m *ssebridgev1.SubscribeResponse) error {
	b, err := jsonOutput.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", compactJSON(b))
	return err
}

// compactJSON removes the spaces protojson may put in its output (it varies
// them on purpose), so that each message is one stable line.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
