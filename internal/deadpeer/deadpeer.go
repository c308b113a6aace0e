// Package deadpeer makes the kernel find TCP peers that have vanished.
//
// A peer whose machine is switched off or cut from the network sends
// nothing more, not even a reset. A server that only writes to it, such
// as an event stream with heartbeats, sees its writes succeed while they
// fit in the socket's send buffer; the kernel retransmits them for about
// 15 minutes (net.ipv4.tcp_retries2) before it gives up. Meanwhile the
// stream holds its subscription and its slot under the stream limits.
//
// Configure bounds that time on a connection in two ways: TCP keepalive
// probes a connection on which nothing has arrived for Config.Idle, and
// TCP_USER_TIMEOUT (Linux) aborts it when data it sent, a probe
// included, has gone unacknowledged for Config.Timeout. A peer that is
// alive but slow to read still acknowledges (zero-window probes
// included) and is not affected. The aborted socket reports the error
// (ETIMEDOUT) to its next read or write and to epoll as EPOLLERR and
// EPOLLHUP.
//
// Listener applies Configure to every connection a listener accepts.
package deadpeer
