package server

import (
	"context"
	"fmt"
	"net/http"

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
// the configuration, else an anonymous grant. No other source is read: a
// REST call's cookie and access_token parameter are not, for any method,
// so that gRPC and REST calls read the same credential.
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

// checkGatewayAuthorization refuses a REST request whose Authorization
// header grpc-gateway would not pass on as "authorization" metadata: it
// forwards only values of printable ASCII and drops the others, which
// would turn a present credential into an anonymous call. Errors wrap
// auth.ErrInvalidToken.
func checkGatewayAuthorization(h http.Header) error {
	for _, v := range h.Values("Authorization") {
		for i := range len(v) {
			if v[i] < 0x20 || v[i] > 0x7e {
				return fmt.Errorf("%w: the Authorization header holds a byte outside printable ASCII", auth.ErrInvalidToken)
			}
		}
	}
	return nil
}

// hintPublishCredential ends the refusal of an anonymous publish: where a
// publisher's token goes, and where it is not read. Cookies are attached
// by browsers to cross-site requests, so a publish, which changes state,
// never reads one; nor the access_token parameter, which is for
// EventSource alone.
const hintPublishCredential = "publishers present a token in the Authorization header (gRPC: the authorization metadata); " +
	"a token in a cookie or in the access_token parameter is not read for publishing"

// checkPublish is grant.CheckPublish, whose refusal of an anonymous
// caller says where publishers present their token.
func checkPublish(grant *auth.Grant, topic string) error {
	err := grant.CheckPublish(topic)
	if err != nil && grant.Anonymous {
		return fmt.Errorf("%w; %s", err, hintPublishCredential)
	}
	return err
}
