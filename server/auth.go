package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/ssebridge/ssebridge/auth"
)

// everything is the grant of every call when the Service has no
// Authenticator.
var everything = &auth.Grant{Everything: true}

// grant returns the grant of the call's credentials: the Bearer token of
// its "authorization" metadata (which grpc-gateway fills from the HTTP
// Authorization header), else a verified TLS client certificate mapped in
// the configuration, else an anonymous grant.
func (s *Service) grant(ctx context.Context) (*auth.Grant, error) {
	if s.auth == nil {
		return everything, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get("authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, fmt.Errorf("%w: more than one authorization value", auth.ErrInvalidToken)
		}
		token, err := auth.BearerToken(vals[0])
		if err != nil {
			return nil, err
		}
		return s.auth.Token(ctx, token)
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			for _, chain := range info.State.VerifiedChains {
				if len(chain) > 0 {
					if g, ok := s.auth.Certificate(chain[0]); ok {
						return g, nil
					}
				}
			}
		}
	}
	return s.auth.Token(ctx, "")
}
