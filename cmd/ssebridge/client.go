package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// clientFlags are the flags shared by the commands that call the service
// over gRPC, publish and subscribe: where it is and how to reach it.
type clientFlags struct {
	Addr  string
	Token string
	TLS   bool
	TLSCA string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "localhost:9090", "gRPC address of the service, host:port")
	fs.StringVar(&c.Token, "token", "", "bearer token sent with each call, in the authorization metadata")
	fs.BoolVar(&c.TLS, "tls", false, "connect with TLS, verifying the server against the system's root certificates")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "connect with TLS, verifying the server against the CA certificates of this PEM file")
}

// connect returns a client of the service. The connection is made by the
// first call, which fails if the service cannot be reached.
func (c *clientFlags) connect() (ssebridgev1.EventServiceClient, func() error, error) {
	creds := insecure.NewCredentials()
	if c.TLS || c.TLSCA != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCA != "" {
			pem, err := os.ReadFile(c.TLSCA)
			if err != nil {
				return nil, nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", c.TLSCA)
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(c.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	return ssebridgev1.NewEventServiceClient(conn), conn.Close, nil
}

// outgoing returns ctx with the token, if any, in its outgoing metadata.
func (c *clientFlags) outgoing(ctx context.Context) context.Context {
	if c.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.Token)
}

// rpcError turns the error of a call into a message for the operator: the
// code in words, the server's message and the fields it names as bad. An
// unreachable server is said to be so, with its address.
func (c *clientFlags) rpcError(what string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	if st.Code() == codes.Unavailable {
		return fmt.Errorf("%s: the service at %s is unavailable: %s", what, c.Addr, st.Message())
	}
	msg := fmt.Sprintf("%s: %s: %s", what, codeWords(st.Code()), st.Message())
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if !strings.Contains(msg, v.GetDescription()) {
					msg += fmt.Sprintf("; %s: %s", v.GetField(), v.GetDescription())
				}
			}
		}
	}
	return errors.New(msg)
}

// codeWords returns a gRPC code in lower-case words: "invalid argument"
// for InvalidArgument.
func codeWords(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// parseCommandFlags sets fs's flags from the environment (envName), then
// from args, which must hold flags only. A repeatable flag set from the
// environment (one with a markDefaults method) starts over when the
// command line sets it.
func parseCommandFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	if err := setFromEnv(fs, lookupEnv); err != nil {
		return err
	}
	fs.VisitAll(func(f *flag.Flag) {
		if l, ok := f.Value.(interface{ markDefaults() }); ok {
			l.markDefaults()
		}
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q (flags only; see %s -h)", fs.Args(), fs.Name())
	}
	return nil
}
