package quoteserver

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The statuses this package answers with are built here, in one place.

// checkSymbol returns nil for a known symbol that trades, else the status
// to answer with: INVALID_ARGUMENT (with a BadRequest naming "symbol") for
// bad syntax, NOT_FOUND for an unknown symbol, UNAVAILABLE for
// HaltedSymbol.
func checkSymbol(symbol string) error {
	if !validSymbol(symbol) {
		return badRequest("symbol", fmt.Sprintf("symbol %q is not 1 to 8 capital letters", symbol))
	}
	if symbol == HaltedSymbol {
		return status.Error(codes.Unavailable, "trading halted")
	}
	if !known(symbol) {
		return status.Errorf(codes.NotFound, "unknown symbol %q", symbol)
	}
	return nil
}

// badRequest is INVALID_ARGUMENT with a google.rpc.BadRequest detail that
// names the offending request field.
func badRequest(field, description string) error {
	st := status.New(codes.InvalidArgument, description)
	st, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}},
	})
	if err != nil {
		panic(err) // a BadRequest always marshals
	}
	return st.Err()
}

// errShuttingDown ends the open streams of a Server that shuts down.
func errShuttingDown() error {
	return status.Error(codes.Unavailable, "server shutting down")
}

// contextStatus is the status of a call whose context ended.
func contextStatus(ctx context.Context) error {
	return status.FromContextError(ctx.Err()).Err()
}

// validSymbol reports whether symbol matches ^[A-Z]{1,8}$.
func validSymbol(symbol string) bool {
	if len(symbol) < 1 || len(symbol) > 8 {
		return false
	}
	for i := range len(symbol) {
		if symbol[i] < 'A' || symbol[i] > 'Z' {
			return false
		}
	}
	return true
}
