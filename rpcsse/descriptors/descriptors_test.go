package descriptors_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/examples/quotes/quoteserver"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/rpcsse/descriptors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkQuotes checks that files hold WatchQuotes with its two options.
func checkQuotes(t *testing.T, files *protoregistry.Files, names []protoreflect.FullName) {
	t.Helper()
	if !slices.Contains(names, "quotes.v1.QuoteService") || slices.ContainsFunc(names, func(n protoreflect.FullName) bool {
		return n == "grpc.reflection.v1.ServerReflection"
	}) {
		t.Errorf("services %v", names)
	}
	d, err := files.FindDescriptorByName("quotes.v1.QuoteService.WatchQuotes")
	if err != nil {
		t.Fatal(err)
	}
	opts := d.(protoreflect.MethodDescriptor).Options()
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	so, _ := proto.GetExtension(opts, ssebridgev1.E_Stream).(*ssebridgev1.StreamOptions)
	if rule.GetGet() != "/v1/quotes/{symbol}:watch" || so.GetIdField() != "seq" {
		t.Errorf("options: http %v, stream %v", rule, so)
	}
}

func TestLoad(t *testing.T) {
	files, names, err := descriptors.Load("../../examples/quotes/quotes.binpb")
	if err != nil {
		t.Fatal(err)
	}
	checkQuotes(t, files, names)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a descriptor set\xff"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, path := range []string{filepath.Join(dir, "missing"), garbage, empty} {
		if _, _, err := descriptors.Load(path); err == nil {
			t.Errorf("Load(%s) succeeded", path)
		}
	}
}

func TestReflect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*grpc.Server)
	}{
		{"v1", func(s *grpc.Server) { reflection.Register(s) }},
		{"v1alpha only", func(s *grpc.Server) {
			rpbalpha.RegisterServerReflectionServer(s, reflection.NewServer(reflection.ServerOptions{Services: s}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			quotesv1.RegisterQuoteServiceServer(srv, quoteserver.New(quoteserver.Config{}))
			tc.register(srv)
			go srv.Serve(lis)
			defer srv.Stop()
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			files, names, err := descriptors.Reflect(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			checkQuotes(t, files, names)
		})
	}
}
