package auth

import (
	"sync"
	"time"
)

// Bounds of the cache of verified tokens.
const (
	// cacheTTL is the longest a verified token is trusted without being
	// verified again; a key removed from a JWKS stops verifying the tokens
	// it signed at most this long after.
	cacheTTL = time.Minute
	// cacheSize is the most tokens kept; when full the cache starts over.
	cacheSize = 10_000
)

// grantCache remembers the grants of verified tokens, so that a publisher
// calling Publish many times with one token pays for one signature check
// per minute rather than one per call. It is safe for concurrent use.
type grantCache struct {
	mu      sync.Mutex
	entries map[string]cachedGrant
}

type cachedGrant struct {
	grant *Grant
	until time.Time
}

// get returns the grant of token if it was verified less than cacheTTL ago
// and has not expired.
func (c *grantCache) get(token string, now time.Time) (*Grant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.grant, true
}

// put remembers the grant of a token verified at now.
func (c *grantCache) put(token string, g *Grant, now time.Time) {
	until := now.Add(cacheTTL)
	if !g.Expires.IsZero() && g.Expires.Before(until) {
		until = g.Expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= cacheSize {
		c.entries = make(map[string]cachedGrant)
	}
	c.entries[token] = cachedGrant{grant: g, until: until}
}
