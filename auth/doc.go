// Package auth decides who may publish to and subscribe to which topics.
//
// Credentials are JSON Web Tokens, verified with a key from configuration
// (an HMAC secret or a PEM public key) or a JWKS document (a file, or an
// HTTPS URL refreshed in the background so that keys rotate without a
// restart), or, for gRPC publishers, a TLS client certificate whose subject
// is mapped to publish patterns in configuration.
//
// A token carries its permissions in the "ssebridge" claim:
//
//	{
//	  "sub": "web-frontend",
//	  "exp": 1767225600,
//	  "ssebridge": {
//	    "subscribe": ["orders.*", "user:42.**"],
//	    "publish":   ["orders.created"]
//	  }
//	}
//
// A token must carry exp, and a stream opened with it ends when it
// expires; tokens without exp, which would never expire, are refused
// unless VerifierConfig.AllowTokensWithoutExp accepts them.
//
// Patterns (see ParsePattern) are topic names whose segments may be "*"
// (exactly one segment) or, as the last segment, "**" (one or more
// segments). A subscription is allowed only when every one of its topics
// matches a subscribe pattern; a publish when its topic matches a publish
// pattern. Listing and describing topics follow the rule of subscribing
// (Grant.CanSubscribe).
//
// Requests without credentials are anonymous: they may subscribe to the
// configured public topic patterns and publish nothing, unless the server
// runs in development mode, where anonymous clients may do everything.
// A credential that is present but invalid is refused; it never falls back
// to anonymous access.
package auth
