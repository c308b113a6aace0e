package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// The README's table of hostile inputs and answers lies between these
// lines.
const (
	hostileTableStart = "<!-- hostile-input table: checked row by row by TestHostileInputTable -->"
	hostileTableEnd   = "<!-- end of the hostile-input table -->"
)

// answer is what the server answered to one hostile input, as the README's
// table words it: a status, then facts, such as
//
//	400 INVALID_TOPIC, field topic
//	405 METHOD_NOT_ALLOWED, Allow: GET, HEAD
//	INVALID_ARGUMENT INVALID_DATA, field data
type answer struct {
	status  string   // an HTTP status such as "400", or a gRPC code such as "INVALID_ARGUMENT"
	reason  string   // the ErrorInfo reason, or ""
	field   string   // the BadRequest field, or ""
	facts   []string // further facts, such as "Retry-After: 3", in the table's order
	message string   // the status message, which the row's message "..." parts must be in
}

func (a answer) String() string {
	s := a.status
	if a.reason != "" {
		s += " " + a.reason
	}
	if a.field != "" {
		s += ", field " + a.field
	}
	for _, f := range a.facts {
		s += ", " + f
	}
	return s
}

// hostileRow is one row of the README's table.
type hostileRow struct {
	input, answer string
}

// messagePart is a row's claim about the message: `message "..."`.
var messagePart = regexp.MustCompile(`, message "([^"]*)"`)

// TestHostileInputTable sends every input of the README's hostile-input
// table to a real server and checks that it answers what the table says.
// A row without a probe here, or a probe without a row, fails the test.
func TestHostileInputTable(t *testing.T) {
	rows := readHostileTable(t)
	h := newHostileEnv(t)
	probes := h.probes()
	for _, row := range rows {
		t.Run(row.input, func(t *testing.T) {
			probe, ok := probes[row.input]
			if !ok {
				t.Fatalf("the README's row %q has no probe in hostile_test.go", row.input)
			}
			rejected := h.rejected(t)
			got := probe(t)
			if counted := h.rejected(t) - rejected; got.reason != "" && got.reason != "TOPIC_NOT_FOUND" && counted < 1 {
				t.Errorf("refused with %s, but ssebridge_requests_rejected_total did not grow", got.reason)
			}
			want := row.answer
			for _, m := range messagePart.FindAllStringSubmatch(want, -1) {
				if !strings.Contains(got.message, m[1]) {
					t.Errorf("message %q does not contain %q", got.message, m[1])
				}
			}
			want = messagePart.ReplaceAllString(want, "")
			if got.String() != want {
				t.Errorf("answer %q, the README says %q", got, want)
			}
		})
	}
	for input := range probes {
		if !slices.ContainsFunc(rows, func(r hostileRow) bool { return r.input == input }) {
			t.Errorf("probe %q has no row in the README's table", input)
		}
	}
}

// readHostileTable returns the rows of the README's table, their cells
// without the backticks of code spans.
func readHostileTable(t *testing.T) []hostileRow {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), hostileTableStart)
	table, _, ok2 := strings.Cut(table, hostileTableEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md has no hostile-input table between %q and %q", hostileTableStart, hostileTableEnd)
	}
	var rows []hostileRow
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] { // after the header and its rule
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 2 {
			t.Fatalf("table row %q: want 2 cells", line)
		}
		unquote := strings.NewReplacer("`", "", `\|`, "|")
		rows = append(rows, hostileRow{input: unquote.Replace(cells[0]), answer: unquote.Replace(cells[1])})
	}
	return rows
}

// hostileEnv is the server the table describes: tokens signed with
// e2eSecret, public topics public.*, 1 KiB of data, at most 3 streams, 2 per
// client address (read from X-Real-IP), a 1 s body timeout and a 5 min
// request head timeout.
type hostileEnv struct {
	s         *testServer
	publisher string // a token that may publish to every topic and read none
}

const hostileMaxData = 1024

func newHostileEnv(t *testing.T) *hostileEnv {
	s := secured(t, func(c *serveConfig) {
		if err := c.Security.PublicTopics.Set("public.*"); err != nil {
			t.Fatal(err)
		}
		c.MaxDataBytes = hostileMaxData
		c.Security.MaxStreams = 3
		c.Security.MaxStreamsPerClient = 2
		c.Security.ClientAddrHeader = "X-Real-IP"
		c.Security.BodyTimeout = time.Second
		c.Security.ReadHeaderTimeout = 5 * time.Minute
	})
	h := &hostileEnv{s: s, publisher: grantToken(t, nil, []string{"**"})}
	for _, topic := range []string{"public.t", "private.t"} {
		if a := h.http(t, http.MethodPost, "/v1/topics/"+topic+"/events", `{"data":"x"}`, h.bearer(h.publisher)); a.status != "200" {
			t.Fatalf("publishing to %s: %v %s", topic, a, a.message)
		}
	}
	return h
}

func (h *hostileEnv) bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// probes maps the input column of each row to what sends that input.
func (h *hostileEnv) probes() map[string]func(*testing.T) answer {
	get := func(path string, header http.Header) func(*testing.T) answer {
		return func(t *testing.T) answer { return h.http(t, http.MethodGet, path, "", header) }
	}
	publish := func(body string, header http.Header) func(*testing.T) answer {
		return func(t *testing.T) answer {
			return h.http(t, http.MethodPost, "/v1/topics/public.t/events", body, header)
		}
	}
	pub := h.bearer(h.publisher)
	return map[string]func(*testing.T) answer{
		"GET /v1/topics//events":                                       get("/v1/topics//events", nil),
		"GET /v1/topics/caf%C3%A9/events":                              get("/v1/topics/caf%C3%A9/events", nil),
		"GET /v1/topics/%FF/events":                                    get("/v1/topics/%FF/events", nil),
		"GET /v1/topics/a%2Fb":                                         get("/v1/topics/a%2Fb", nil),
		"GET /v1/events without a topic":                               get("/v1/events", nil),
		"GET /v1/events with 17 topic parameters, 16 of them the same": get("/v1/events?"+strings.Repeat("topic=public.a&", 16)+"topic=public.b", nil),
		"GET /v1/nowhere":                                              get("/v1/nowhere", nil),
		"GET /v1/topics/private.t/events, no token":                    get("/v1/topics/private.t/events", nil),
		"GET /v1/topics/private.t/events, a token signed with another key": get("/v1/topics/private.t/events",
			h.bearer(mintWith("another-secret-0123456789abcdef0123456", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}))),
		"GET /v1/topics/private.t/events, a token without exp": func(t *testing.T) answer {
			return h.http(t, http.MethodGet, "/v1/topics/private.t/events", "", h.bearer(mint(t, jwt.MapClaims{
				"sub": "no-exp", "ssebridge": map[string]any{"subscribe": []string{"**"}},
			})))
		},
		"GET /v1/topics/private.t/events, a token that may read only public.*": func(t *testing.T) answer {
			return h.http(t, http.MethodGet, "/v1/topics/private.t/events", "", h.bearer(grantToken(t, []string{"public.*"}, nil)))
		},
		"GET /v1/topics/private.t, no token (the topic exists)":       get("/v1/topics/private.t", nil),
		"GET /v1/topics, no token":                                    h.listTopics,
		"GET /v1/topics/public.t/events, Last-Event-ID: not-a-cursor": h.resumeFromGarbage,
		"DELETE /v1/topics/public.t/events":                           func(t *testing.T) answer { return h.http(t, http.MethodDelete, "/v1/topics/public.t/events", "", nil) },
		"PUT /v1/topics":                                              func(t *testing.T) answer { return h.http(t, http.MethodPut, "/v1/topics", "", nil) },
		"POST /v1/topics/public.t/events, the token in the cookie only": func(t *testing.T) answer {
			return h.http(t, http.MethodPost, "/v1/topics/public.t/events", `{"data":"x"}`,
				http.Header{"Cookie": {"ssebridge_token=" + h.publisher}})
		},
		"POST /v1/topics/public.t/events?access_token=..., no header": func(t *testing.T) answer {
			return h.http(t, http.MethodPost, "/v1/topics/public.t/events?access_token="+h.publisher, `{"data":"x"}`, nil)
		},
		"REST publish, data of --max-data-bytes, every byte written \\u0078": publish(`{"data":"`+strings.Repeat(`\u0078`, hostileMaxData)+`"}`, pub),
		"REST publish, data one byte over --max-data-bytes":                  publish(`{"data":"`+strings.Repeat("x", hostileMaxData+1)+`"}`, pub),
		"REST publish, a body over 6 × --max-data-bytes + 64 KiB":            publish(`{"data":"`+strings.Repeat("x", 6*hostileMaxData+64<<10)+`"}`, pub),
		"REST publish, a body that stops arriving (--body-timeout)":          h.stalledBody,
		"REST publish, an unknown field":                                     publish(`{"dat":"x"}`, pub),
		"REST publish, data that is not UTF-8":                               publish("{\"data\":\"\xff\"}", pub),
		"a third SSE stream from one client address":                         h.thirdStreamOfClient,
		"a gRPC Subscribe over --max-streams, the other streams SSE":         h.grpcOverMaxStreams,
		"a request head of exactly --max-header-bytes bytes":                 func(t *testing.T) answer { return h.raw(t, http1Head(t, 64<<10)) },
		"a request head one byte longer":                                     func(t *testing.T) answer { return h.raw(t, http1Head(t, 64<<10+1)) },
		"the request line GARBAGE":                                           func(t *testing.T) answer { return h.raw(t, []byte("GARBAGE\r\n\r\n")) },
		"gRPC Publish, data not UTF-8": func(t *testing.T) answer {
			return h.rawPublish(t, wireString(nil, 1, "public.t"), 3, "ok \xff")
		},
		"gRPC Publish, topic not UTF-8": func(t *testing.T) answer {
			return h.rawPublish(t, nil, 1, "public.\xff")
		},
		"gRPC PublishStream, an event whose data is not UTF-8": h.publishStreamBadEvent,
		"gRPC Subscribe to 17 topics": func(t *testing.T) answer {
			topics := make([]string, 17)
			for i := range topics {
				topics[i] = fmt.Sprintf("public.t%d", i)
			}
			return h.subscribe(t, context.Background(), topics)
		},
		"gRPC Subscribe, a token without exp": func(t *testing.T) answer {
			token := mint(t, jwt.MapClaims{"sub": "no-exp", "ssebridge": map[string]any{"subscribe": []string{"**"}}})
			return h.subscribe(t, bearer(context.Background(), token), []string{"public.t"})
		},
		"gRPC GetTopic of private.t, no token (the topic exists)": func(t *testing.T) answer {
			_, err := h.s.grpc.GetTopic(context.Background(), &ssebridgev1.GetTopicRequest{Topic: "private.t"})
			return grpcAnswer(err)
		},
		"gRPC Publish, no token": func(t *testing.T) answer {
			_, err := h.s.grpc.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: "public.t", Data: "x"})
			return grpcAnswer(err)
		},
	}
}

// mintWith signs claims with secret.
func mintWith(secret string, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return s
}

// rejected returns the sum of ssebridge_requests_rejected_total over all
// its series.
func (h *hostileEnv) rejected(t *testing.T) float64 {
	t.Helper()
	_, body := h.s.doAt(t, h.s.opsURL, http.MethodGet, "/metrics", nil)
	var sum float64
	for _, line := range strings.Split(body["raw"].(string), "\n") {
		if rest, ok := strings.CutPrefix(line, "ssebridge_requests_rejected_total{"); ok {
			_, value, _ := strings.Cut(rest, "} ")
			var v float64
			if _, err := fmt.Sscan(value, &v); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

// http sends one request and returns its answer.
func (h *hostileEnv) http(t *testing.T, method, path, body string, header http.Header) answer {
	t.Helper()
	resp := h.send(t, method, path, strings.NewReader(body), header)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer(t, resp, raw)
}

func (h *hostileEnv) send(t *testing.T, method, path string, body io.Reader, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, h.s.httpURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// httpAnswer is the answer of an HTTP response with body raw.
func httpAnswer(t *testing.T, resp *http.Response, raw []byte) answer {
	t.Helper()
	a := answer{status: fmt.Sprint(resp.StatusCode)}
	if resp.Header.Get("Content-Type") == "application/json" && resp.StatusCode >= 400 {
		st, err := apierror.Parse(raw)
		if err != nil {
			t.Fatalf("error body %q: %v", raw, err)
		}
		a.reason, a.field, a.message = apierror.Reason(st), apierror.Field(st), st.Message()
	}
	for _, name := range []string{"Allow", "Retry-After", "WWW-Authenticate"} {
		if v := resp.Header.Get(name); v != "" {
			a.facts = append(a.facts, name+": "+v)
		}
	}
	return a
}

// grpcAnswer is the answer of a gRPC call that ended with err.
func grpcAnswer(err error) answer {
	st := status.Convert(err)
	a := answer{status: codeName(st), reason: apierror.Reason(st), field: apierror.Field(st), message: st.Message()}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			a.facts = append(a.facts, "RetryInfo "+ri.GetRetryDelay().AsDuration().String())
		}
	}
	return a
}

// codeName is the name of st's code as the proto spells it: INVALID_ARGUMENT.
func codeName(st *status.Status) string {
	var b strings.Builder
	for i, r := range st.Code().String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// listTopics lists the topics anonymously: with a private and a public
// topic on the server, only the public one may be listed.
func (h *hostileEnv) listTopics(t *testing.T) answer {
	resp := h.send(t, http.MethodGet, "/v1/topics", nil, nil)
	defer resp.Body.Close()
	var list ssebridgev1.ListTopicsResponse
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := httpAnswer(t, resp, raw)
	if resp.StatusCode == http.StatusOK {
		if err := protojson.Unmarshal(raw, &list); err != nil {
			t.Fatal(err)
		}
		for _, topic := range list.GetTopics() {
			a.facts = append(a.facts, "topic "+topic.GetName())
		}
	}
	return a
}

// resumeFromGarbage opens a stream with a cursor that is not one: the
// stream opens and starts with a gap notice.
func (h *hostileEnv) resumeFromGarbage(t *testing.T) answer {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := ssetest.Connect(ctx, h.s.httpURL+"/v1/topics/public.t/events", http.Header{"Last-Event-ID": {"not-a-cursor"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: "200", facts: []string{"first event " + e.Type}, message: e.Data}
}

// stalledBody sends half a body, then nothing, until the server answers.
func (h *hostileEnv) stalledBody(t *testing.T) answer {
	body, w := io.Pipe()
	defer w.Close()
	go w.Write([]byte(`{"data":"x`)) // and never the rest
	resp := h.send(t, http.MethodPost, "/v1/topics/public.t/events", body, h.bearer(h.publisher))
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := httpAnswer(t, resp, raw)
	if strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "tcp") {
		a.facts = append(a.facts, "the body names the connection: "+string(raw))
	}
	return a
}

// thirdStreamOfClient opens two streams from one client address, then a
// third.
func (h *hostileEnv) thirdStreamOfClient(t *testing.T) answer {
	header := http.Header{"X-Real-IP": {"192.0.2.7"}}
	h.openStreams(t, header, header)
	return h.http(t, http.MethodGet, "/v1/topics/public.t/events", "", header)
}

// grpcOverMaxStreams opens --max-streams SSE streams from three client
// addresses, then a gRPC Subscribe.
func (h *hostileEnv) grpcOverMaxStreams(t *testing.T) answer {
	var headers []http.Header
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		headers = append(headers, http.Header{"X-Real-IP": {ip}})
	}
	h.openStreams(t, headers...)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-real-ip", "192.0.2.4")
	return h.subscribe(t, ctx, []string{"public.t"})
}

// openStreams opens an SSE stream of public.t with each header. When the
// test ends it closes them and waits for the server to see them end, so
// that they hold no slot in the next test.
func (h *hostileEnv) openStreams(t *testing.T, headers ...http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var conns []*ssetest.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		eventually(t, "the streams to end", func() bool {
			return h.s.metric(t, `ssebridge_subscribers{transport="sse"}`) == 0
		})
	})
	for _, header := range headers {
		c, err := ssetest.Connect(ctx, h.s.httpURL+"/v1/topics/public.t/events", header)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
}

// subscribe opens a Subscribe call and returns how it ended, or 'OK' when
// it was admitted.
func (h *hostileEnv) subscribe(t *testing.T, ctx context.Context, topics []string) answer {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	stream, err := h.s.grpc.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := stream.Header(); err == nil && md != nil {
		return answer{status: "OK"}
	}
	_, err = stream.Recv()
	return grpcAnswer(err)
}

// raw sends b on a new connection and reads the answer. The server's
// request head timeout is 5 minutes; the test's bound is far shorter, so
// an answer that arrives at all arrived at once.
func (h *hostileEnv) raw(t *testing.T, b []byte) answer {
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.s.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	a := answer{status: fmt.Sprint(resp.StatusCode)}
	if resp.Close { // the server said it closes the connection: check that it does
		if _, err := rd.ReadByte(); err == io.EOF {
			a.facts = append(a.facts, "connection closed")
		} else {
			a.facts = append(a.facts, fmt.Sprintf("Connection: close, then %v", err))
		}
	}
	return a
}

// rawPublish publishes the wire message msg with field number field set to
// value, which may be invalid UTF-8, as a token that may publish.
func (h *hostileEnv) rawPublish(t *testing.T, msg []byte, field protowire.Number, value string) answer {
	var resp ssebridgev1.PublishResponse
	ctx := bearer(context.Background(), h.publisher)
	err := h.s.grpcConn.Invoke(ctx, "/ssebridge.v1.EventService/Publish", wireString(msg, field, value), &resp, grpc.ForceCodecV2(rawCodec{}))
	return grpcAnswer(err)
}

// publishStreamBadEvent sends an event whose data is not UTF-8, then a
// valid one, on one PublishStream call: the first is refused in its
// acknowledgement, the second published.
func (h *hostileEnv) publishStreamBadEvent(t *testing.T) answer {
	ctx, cancel := context.WithTimeout(bearer(context.Background(), h.publisher), waitTimeout)
	defer cancel()
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	stream, err := h.s.grpcConn.NewStream(ctx, desc, "/ssebridge.v1.EventService/PublishStream", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"bad \xff", "good"} {
		event := wireString(wireString(nil, 1, "public.t"), 3, data)
		if err := stream.SendMsg(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), event)); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	var acks []*ssebridgev1.PublishAck
	for len(acks) < 2 {
		var resp ssebridgev1.PublishStreamResponse
		if err := stream.RecvMsg(&resp); err != nil {
			t.Fatalf("after %d acknowledgements: %v", len(acks), err)
		}
		acks = append(acks, resp.GetAcks()...)
	}
	a := grpcAnswer(status.FromProto(acks[0].GetError()).Err())
	if acks[1].GetError() == nil && acks[1].GetResult().GetId() != "" {
		a.facts = append(a.facts, "the next event is published")
	}
	return a
}

// wireString appends field number n with the string s, whatever its bytes,
// to the wire message b.
func wireString(b []byte, n protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// rawCodec sends requests given as []byte as they are, so that a test can
// send wire data no protocol buffer library would marshal; responses are
// decoded as usual.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }
