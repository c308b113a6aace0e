package auth

import "errors"

// Errors of authentication and authorization. They are wrapped with detail;
// test for them with errors.Is. Transports map them to HTTP 401/403 and to
// gRPC UNAUTHENTICATED/PERMISSION_DENIED.
var (
	// ErrUnauthenticated: the request carries no credential, and anonymous
	// clients may not do what it asks.
	ErrUnauthenticated = errors.New("auth: credentials required")
	// ErrInvalidToken: the request carries a token that does not verify:
	// bad signature, wrong algorithm, expired, without exp (unless allowed),
	// not yet valid, wrong issuer or audience, missing or malformed claims.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrForbidden: the credential is valid but does not allow the topic.
	ErrForbidden = errors.New("auth: forbidden")
)
