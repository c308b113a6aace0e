package rpcsse

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssebridge/ssebridge/internal/apierror"
)

// Query parameters of ssebridge's own, never set into a request message.
const (
	// LastEventIDParam carries the Last-Event-ID of clients that cannot
	// set headers; the header wins when both are sent.
	LastEventIDParam = "last_event_id"
	// AccessTokenParam is a credential an Authorizer may read (package
	// auth's access_token); it never reaches the backend as a field.
	AccessTokenParam = "access_token"
)

// MaxLastEventIDBytes is the longest Last-Event-ID a Bridge takes.
const MaxLastEventIDBytes = 1024

// LastEventIDMetadata is the gRPC metadata key that carries a client's
// Last-Event-ID to the backend.
const LastEventIDMetadata = "last-event-id"

// buildRequest returns the request message of r for m on rt, as
// grpc-gateway builds it: the path parameters first
// (runtime.PopulateFieldFromPath), then the query parameters that the path
// does not set (runtime.PopulateQueryParameters), then the client's
// Last-Event-ID into m's field for it. It also returns the Last-Event-ID,
// "" for none. Its errors are INVALID_ARGUMENT statuses naming the field.
func (m *method) buildRequest(r *http.Request, rt *route, params map[string]string) (proto.Message, string, *status.Status) {
	msg := m.request.New().Interface()
	for field, value := range params {
		if err := runtime.PopulateFieldFromPath(msg, field, value); err != nil {
			return nil, "", badParameter(field, err)
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, "", apierror.BadRequest(ReasonInvalidParameter, "query", "malformed query string")
	}
	lastID, st := lastEventID(r, query)
	if st != nil {
		return nil, "", st
	}
	query.Del(LastEventIDParam)
	query.Del(AccessTokenParam)
	if err := runtime.PopulateQueryParameters(msg, query, rt.pathFields); err != nil {
		return nil, "", apierror.BadRequest(ReasonInvalidParameter, "query", "invalid query parameter: "+queryError(err))
	}
	if lastID != "" && m.lastEventID != "" {
		if err := runtime.PopulateFieldFromPath(msg, m.lastEventID, lastID); err != nil {
			return nil, "", badParameter(LastEventIDParam, err)
		}
	}
	return msg, lastID, nil
}

// queryError returns the text of a runtime.PopulateQueryParameters error,
// which names the parameter: the message of the status it may be.
func queryError(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// lastEventID returns the client's Last-Event-ID: the header, else the
// last_event_id query parameter. It refuses one longer than
// MaxLastEventIDBytes or holding a control character.
func lastEventID(r *http.Request, query url.Values) (string, *status.Status) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = query.Get(LastEventIDParam)
	}
	if len(id) > MaxLastEventIDBytes {
		return "", apierror.BadRequest(ReasonInvalidParameter, LastEventIDParam, "Last-Event-ID longer than 1024 bytes")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return "", apierror.BadRequest(ReasonInvalidParameter, LastEventIDParam, "Last-Event-ID holds a control character")
		}
	}
	return id, nil
}

// outgoing returns the metadata of a call for r: the credentials (or,
// without an Authorizer, the Authorization header), the headers and
// cookies of the allowlists, and the Last-Event-ID. Nothing else of r.
func (b *Bridge) outgoing(r *http.Request, creds Credentials, authorized bool, lastID string) metadata.MD {
	md := metadata.MD{}
	if authorized {
		md = creds.Metadata.Copy()
	} else if a := r.Header.Values("Authorization"); len(a) > 0 {
		md.Set("authorization", a...)
	}
	for _, h := range b.forwardHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			md.Set(h, v...)
		}
	}
	if len(b.forwardCookies) > 0 {
		var cookies []string
		for _, c := range r.Cookies() {
			if _, ok := b.forwardCookies[c.Name]; ok {
				cookies = append(cookies, c.Name+"="+c.Value)
			}
		}
		if len(cookies) > 0 {
			md.Set("cookie", strings.Join(cookies, "; "))
		}
	}
	if lastID != "" {
		md.Set(LastEventIDMetadata, lastID)
	}
	return md
}

// validMetadataValue reports whether v may be sent as gRPC metadata.
func validMetadataValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
