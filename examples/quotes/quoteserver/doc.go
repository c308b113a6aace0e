// Package quoteserver implements quotes.v1.QuoteService, the example backend
// that ssebridge's RPC bridge is tested and demonstrated against: a quote
// ticker of a simulated, deterministic market.
//
//	srv := quoteserver.New(quoteserver.Config{})
//	gs := grpc.NewServer()
//	quotesv1.RegisterQuoteServiceServer(gs, srv)
//	go gs.Serve(lis)
//	...
//	srv.Shutdown() // open streams end with UNAVAILABLE
//	gs.GracefulStop()
//
// # The market
//
// Quote n of a symbol is [QuoteAt](symbol, n) and headline n of a stream is
// [HeadlineAt](n), whenever and however often they are sent: a test can
// check every message it receives, and that a resumed stream carries on
// exactly after the last quote received. The known symbols are [Symbols];
// [HaltedSymbol] is known but always answers UNAVAILABLE.
//
// # Streams
//
// WatchQuotes and WatchNews send one message per interval (the request's
// interval_ms, else Config.Interval), the first one interval after the
// call starts, with a ticker: a message is made only when the previous one
// has been sent, so a client that does not read blocks Send through gRPC
// flow control and nothing is buffered ahead. The response header goes out
// with the first message unless Config.SendHeaderEarly is set, as in most
// backends.
//
// # Test hooks
//
// Every WatchQuotes and WatchNews call is reported on [Server.Calls] as a
// [*Call], which tells what the call asked for, how many messages it sent,
// when and why it ended, and lets a test end it with a status after its
// next message ([Call.Fail]). Tests synchronise on these instead of
// sleeping.
package quoteserver
