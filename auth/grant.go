package auth

import (
	"fmt"
	"time"
)

// Grant is what a credential allows. A Grant is immutable once made.
type Grant struct {
	// Subject names the credential's holder: the token's sub claim, the
	// client certificate's subject, or empty for anonymous clients.
	Subject string
	// Anonymous is true for a request without credentials.
	Anonymous bool
	// Subscribe and Publish are the patterns of the topics the holder may
	// subscribe to and publish to.
	Subscribe, Publish Patterns
	// Everything allows everything: development mode.
	Everything bool
	// Expires is when the credential expires; zero for never. A stream
	// opened with the credential ends then.
	Expires time.Time
}

// CanSubscribe reports whether the grant may read topic: subscribe to its
// events, see it listed and see its description. It is the one rule of
// reading, behind CheckSubscribe and the topic listings: anonymous grants
// read the public topics (everything in development mode), others the
// topics their Subscribe patterns match.
func (g *Grant) CanSubscribe(topic string) bool {
	return g.Everything || g.Subscribe.Match(topic)
}

// CheckSubscribe returns nil when the grant may read (CanSubscribe) every
// topic of topics. Otherwise it names the first topic refused, with
// ErrUnauthenticated for anonymous grants and ErrForbidden for others: a
// subscription with any forbidden topic is refused as a whole.
func (g *Grant) CheckSubscribe(topics []string) error {
	for _, t := range topics {
		if !g.CanSubscribe(t) {
			return g.refuse("subscribe to", t)
		}
	}
	return nil
}

// CheckPublish returns nil when the grant allows publishing to topic, and
// an error as CheckSubscribe does otherwise.
func (g *Grant) CheckPublish(topic string) error {
	if g.Everything || g.Publish.Match(topic) {
		return nil
	}
	return g.refuse("publish to", topic)
}

func (g *Grant) refuse(what, topic string) error {
	if g.Anonymous {
		return fmt.Errorf("%w: anonymous clients may not %s %q", ErrUnauthenticated, what, topic)
	}
	return fmt.Errorf("%w: the credential of %q may not %s %q", ErrForbidden, g.Subject, what, topic)
}
