package server

import (
	"context"
	"net"
	"sync"

	"google.golang.org/grpc/peer"
)

// A Subscribe blocked in a send to a client that does not read cannot take
// its message back: grpc-go has queued up to 64 KiB of the stream's data,
// plus the message being sent, behind the client's HTTP/2 flow-control
// window, and when the handler returns it queues the call's status behind
// them too. No grpc-go API resets one stream from the server, so those
// bytes, and the stream, stay until the client reads or the connection
// ends; grpc.Server.GracefulStop waits for them. To free them the Service
// closes the connection of such a call; it can do so on the connections
// of listeners wrapped by Service.Listener.

// connections are the open connections accepted through Service.Listener,
// by their addresses. Its methods are safe for concurrent use.
type connections struct {
	mu    sync.Mutex
	conns map[connKey]net.Conn
}

// connKey names a connection as grpc-go's peer.Peer names it.
type connKey struct{ local, remote string }

func (c *connections) add(conn net.Conn) net.Conn {
	key := connKey{local: conn.LocalAddr().String(), remote: conn.RemoteAddr().String()}
	tc := &trackedConn{Conn: conn, conns: c, key: key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = make(map[connKey]net.Conn)
	}
	c.conns[key] = tc
	return tc
}

func (c *connections) remove(key connKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, key)
}

// closeConn closes the connection that carries the call of ctx, and
// reports whether it found it.
func (c *connections) closeConn(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil || p.LocalAddr == nil {
		return false
	}
	c.mu.Lock()
	conn := c.conns[connKey{local: p.LocalAddr.String(), remote: p.Addr.String()}]
	c.mu.Unlock()
	if conn == nil {
		return false
	}
	conn.Close()
	return true
}

// Listener wraps l, the listener a grpc.Server from NewGRPCServer serves
// on, so that the Service can close the connection of a Subscribe call
// whose client stalled (see Config.WriteTimeout); closing it frees what
// grpc-go holds for the call and lets GracefulStop finish. Calls on
// connections accepted otherwise are still ended, but their unsent bytes
// stay with their connection until the client reads them or leaves.
func (s *Service) Listener(l net.Listener) net.Listener {
	return &trackedListener{Listener: l, conns: &s.conns}
}

type trackedListener struct {
	net.Listener
	conns *connections
}

// Accept implements net.Listener.
func (l *trackedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.conns.add(conn), nil
}

// trackedConn is a connection that leaves its connections when closed.
type trackedConn struct {
	net.Conn
	conns *connections
	key   connKey
	once  sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() { c.conns.remove(c.key) })
	return c.Conn.Close()
}

// NetConn returns the connection that c wraps.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }
