package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/server"
)

// rawGet sends a GET to the gateway and returns its answer unparsed.
func (e *env) rawGet(t *testing.T, path string, h http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.rest.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.rest.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// restTopicNames lists the topics over REST and returns their names.
func (e *env) restTopicNames(t *testing.T, path string, h http.Header) []string {
	t.Helper()
	code, _, body := e.rawGet(t, path, h)
	if code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %s", path, code, body)
	}
	var list struct {
		Topics []struct {
			Name string `json:"name"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET %s: %s: %v", path, body, err)
	}
	names := []string{}
	for _, tp := range list.Topics {
		names = append(names, tp.Name)
	}
	return names
}

// grpcTopicNames lists the topics over gRPC and returns their names.
func (e *env) grpcTopicNames(t *testing.T, ctx context.Context, prefix string) []string {
	t.Helper()
	resp, err := e.client.ListTopics(ctx, &ssebridgev1.ListTopicsRequest{Prefix: prefix})
	if err != nil {
		t.Fatalf("ListTopics(%q): %v", prefix, err)
	}
	names := []string{}
	for _, tp := range resp.GetTopics() {
		names = append(names, tp.GetName())
	}
	return names
}

// bearerHeader is an Authorization header carrying token; empty means none.
func bearerHeader(token string) http.Header {
	if token == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// TestListTopicsFollowsReadRule: a topic listing shows only the topics the
// caller may subscribe to, over gRPC and REST alike: anonymous clients see
// the public topics, a token the topics its subscribe patterns match.
func TestListTopicsFollowsReadRule(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil, "public.*")}})
	hour := time.Now().Add(time.Hour)
	admin := signToken(t, hour, []string{"**"}, []string{"**"})
	all := []string{"a.x", "a.x.deep", "a.y", "b.z", "public.news"}
	for _, topic := range all {
		if _, err := e.client.Publish(withToken(t.Context(), admin), &ssebridgev1.PublishRequest{Topic: topic, Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	aStar := signToken(t, hour, []string{"a.*"}, nil)
	publisher := signToken(t, hour, nil, []string{"**"})
	tests := []struct {
		name   string
		token  string // empty: anonymous
		prefix string
		want   []string
	}{
		{"anonymous", "", "", []string{"public.news"}},
		{"anonymous with a prefix of private topics", "", "a", []string{}},
		{"token with a.*", aStar, "", []string{"a.x", "a.y"}},
		{"token with a.* and a prefix", aStar, "a.x", []string{"a.x"}},
		{"token with a.* and a prefix it may not read", aStar, "b", []string{}},
		{"token that may only publish", publisher, "", []string{}},
		{"token with **", admin, "", all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.token != "" {
				ctx = withToken(ctx, tt.token)
			}
			if got := e.grpcTopicNames(t, ctx, tt.prefix); !slices.Equal(got, tt.want) {
				t.Errorf("gRPC ListTopics: %q, want %q", got, tt.want)
			}
			path := "/v1/topics"
			if tt.prefix != "" {
				path += "?prefix=" + tt.prefix
			}
			if got := e.restTopicNames(t, path, bearerHeader(tt.token)); !slices.Equal(got, tt.want) {
				t.Errorf("GET %s: %q, want %q", path, got, tt.want)
			}
		})
	}

	// The REST mapping reads the Authorization header only: a token in the
	// cookie or the access_token parameter is not read, and the listing is
	// the anonymous one.
	if got := e.restTopicNames(t, "/v1/topics", http.Header{"Cookie": {auth.DefaultCookie + "=" + admin}}); !slices.Equal(got, []string{"public.news"}) {
		t.Errorf("GET /v1/topics with the token in a cookie: %q, want the anonymous listing", got)
	}
	if got := e.restTopicNames(t, "/v1/topics?access_token="+admin, nil); !slices.Equal(got, []string{"public.news"}) {
		t.Errorf("GET /v1/topics?access_token=: %q, want the anonymous listing", got)
	}

	// A present but invalid token is refused, never read as anonymous.
	bad := signToken(t, time.Now().Add(-time.Hour), []string{"**"}, nil)
	_, err := e.client.ListTopics(withToken(t.Context(), bad), &ssebridgev1.ListTopicsRequest{})
	wantCode(t, err, codes.Unauthenticated)
	code, h, body := e.rawGet(t, "/v1/topics", bearerHeader(bad))
	if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("GET /v1/topics with an expired token: HTTP %d %q %s", code, h.Get("WWW-Authenticate"), body)
	}
}

// TestListTopicsDevMode: in development mode anonymous clients list every
// topic, as they may subscribe to every topic.
func TestListTopicsDevMode(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: auth.New(auth.Config{Dev: true})}})
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "a.x", Data: "x"})
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "b", Data: "x"})
	want := []string{"a.x", "b"}
	if got := e.grpcTopicNames(t, t.Context(), ""); !slices.Equal(got, want) {
		t.Errorf("gRPC ListTopics: %q, want %q", got, want)
	}
	if got := e.restTopicNames(t, "/v1/topics", nil); !slices.Equal(got, want) {
		t.Errorf("GET /v1/topics: %q, want %q", got, want)
	}
	if _, err := e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "b"}); err != nil {
		t.Errorf("GetTopic(b): %v", err)
	}
}

// restAnswer is what a client sees of a REST answer: status, content type
// and body, byte for byte.
type restAnswer struct {
	status      int
	contentType string
	challenge   string
	body        string
}

// TestGetTopicHidesUnreadableTopics: GetTopic on a topic the caller may
// not read answers exactly as for a topic that does not exist, so that it
// reveals nothing of the topic, not even that it exists. The answers on a
// name before and after its topic exists are compared byte for byte.
func TestGetTopicHidesUnreadableTopics(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil, "public.*")}})
	hour := time.Now().Add(time.Hour)
	admin := signToken(t, hour, []string{"**"}, []string{"**"})
	aStar := signToken(t, hour, []string{"a.*"}, nil)
	callers := []struct {
		name  string
		token string // empty: anonymous
	}{
		{"anonymous", ""},
		{"token with a.*", aStar},
	}
	const private = "b.secret"
	answers := func() (grpcs []*status.Status, rests []restAnswer) {
		for _, c := range callers {
			ctx := t.Context()
			if c.token != "" {
				ctx = withToken(ctx, c.token)
			}
			_, err := e.client.GetTopic(ctx, &ssebridgev1.GetTopicRequest{Topic: private})
			grpcs = append(grpcs, status.Convert(err))
			code, h, body := e.rawGet(t, "/v1/topics/"+private, bearerHeader(c.token))
			rests = append(rests, restAnswer{code, h.Get("Content-Type"), h.Get("WWW-Authenticate"), string(body)})
		}
		return grpcs, rests
	}

	grpcMissing, restMissing := answers()
	for i, c := range callers {
		if grpcMissing[i].Code() != codes.NotFound {
			t.Fatalf("%s: GetTopic on a missing topic: %v, want NOT_FOUND", c.name, grpcMissing[i])
		}
		if restMissing[i].status != http.StatusNotFound {
			t.Fatalf("%s: GET on a missing topic: %+v, want 404", c.name, restMissing[i])
		}
	}
	if _, err := e.client.Publish(withToken(t.Context(), admin), &ssebridgev1.PublishRequest{Topic: private, Data: "x"}); err != nil {
		t.Fatal(err)
	}
	stream, err := e.client.Subscribe(withToken(streamContext(t), admin), &ssebridgev1.SubscribeRequest{Topics: []string{private}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}

	grpcExisting, restExisting := answers()
	for i, c := range callers {
		if !proto.Equal(grpcExisting[i].Proto(), grpcMissing[i].Proto()) {
			t.Errorf("%s: GetTopic on an existing unreadable topic: %v; on the missing topic: %v", c.name, grpcExisting[i].Proto(), grpcMissing[i].Proto())
		}
		if restExisting[i] != restMissing[i] {
			t.Errorf("%s: GET on an existing unreadable topic:\n%+v\non the missing topic:\n%+v", c.name, restExisting[i], restMissing[i])
		}
	}

	// Those who may read it see it.
	info, err := e.client.GetTopic(withToken(t.Context(), admin), &ssebridgev1.GetTopicRequest{Topic: private})
	if err != nil || info.GetTopic().GetSubscribers() != 1 {
		t.Fatalf("GetTopic with a token that may read it: %v, %v", info, err)
	}
	e.client.Publish(withToken(t.Context(), admin), &ssebridgev1.PublishRequest{Topic: "a.x", Data: "x"})
	e.client.Publish(withToken(t.Context(), admin), &ssebridgev1.PublishRequest{Topic: "public.news", Data: "x"})
	if code, _, body := e.rawGet(t, "/v1/topics/a.x", bearerHeader(aStar)); code != http.StatusOK {
		t.Errorf("GET /v1/topics/a.x with a.*: HTTP %d %s", code, body)
	}
	if code, _, body := e.rawGet(t, "/v1/topics/public.news", nil); code != http.StatusOK {
		t.Errorf("GET /v1/topics/public.news anonymously: HTTP %d %s", code, body)
	}

	// A present but invalid token is refused, whether the topic exists or
	// not; a name that cannot be a topic is INVALID_ARGUMENT for everyone.
	bad := signToken(t, time.Now().Add(-time.Hour), []string{"**"}, nil)
	_, err = e.client.GetTopic(withToken(t.Context(), bad), &ssebridgev1.GetTopicRequest{Topic: private})
	wantCode(t, err, codes.Unauthenticated)
	if code, h, body := e.rawGet(t, "/v1/topics/"+private, bearerHeader(bad)); code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("GET with an expired token: HTTP %d %q %s", code, h.Get("WWW-Authenticate"), body)
	}
	_, err = e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "a..b"})
	wantBadRequest(t, err, "topic")
}
