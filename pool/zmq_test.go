package pool_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/tarbela-pool/tarbela/pool"
)

// startZMQPub starts a real ZeroMQ PUB socket (go-zeromq/zmq4) on endpoint,
// "tcp://127.0.0.1:0" for a fresh port, and returns it with its endpoint.
func startZMQPub(t testing.TB, endpoint string) (zmq4.Socket, string) {
	t.Helper()
	pub := zmq4.NewPub(context.Background())
	if err := pub.Listen(endpoint); err != nil {
		t.Fatalf("zmq4 PUB listen %s: %v", endpoint, err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub, "tcp://" + pub.Addr().String()
}

// waitSubscribed waits until the publisher has seen a subscription to topic,
// so that nothing sent afterwards is dropped by ZeroMQ's slow-joiner rule.
func waitSubscribed(t testing.TB, pub zmq4.Socket, topic string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(pub.(zmq4.Topics).Topics(), topic) {
		if time.Now().After(deadline) {
			t.Fatalf("publisher never saw a subscription to %q (has %v)", topic, pub.(zmq4.Topics).Topics())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hashblockMsg(hash []byte, seq uint32) zmq4.Msg {
	return zmq4.NewMsgFrom([]byte("hashblock"), hash, binary.LittleEndian.AppendUint32(nil, seq))
}

func TestZMQSubscriberWithZmq4Publisher(t *testing.T) {
	pub, ep := startZMQPub(t, "tcp://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	z, err := pool.DialZMQ(ctx, ep, "hashblock")
	if err != nil {
		t.Fatalf("DialZMQ: %v", err)
	}
	defer z.Close()
	if z.PeerSocketType() != "PUB" {
		t.Fatalf("peer socket type %q, want PUB", z.PeerSocketType())
	}
	waitSubscribed(t, pub, "hashblock")

	hash := bytes.Repeat([]byte{0xab}, 32)
	// A topic we did not subscribe to is filtered by the publisher.
	if err := pub.Send(zmq4.NewMsgFrom([]byte("rawtx"), []byte{1, 2, 3}, []byte{0, 0, 0, 0})); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(hashblockMsg(hash, 7)); err != nil {
		t.Fatal(err)
	}
	frames, err := z.ReadMessage()
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	want := [][]byte{[]byte("hashblock"), hash, {7, 0, 0, 0}}
	if !slices.EqualFunc(frames, want, bytes.Equal) {
		t.Fatalf("frames %x, want %x", frames, want)
	}

	// Close unblocks a pending read.
	errc := make(chan error, 1)
	go func() { _, err := z.ReadMessage(); errc <- err }()
	z.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("ReadMessage after Close returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock ReadMessage")
	}
}

// TestRunZMQSubscriberReconnects stops the publisher and starts a new one on
// the same endpoint: the subscriber must redial, resubscribe and deliver
// again.
func TestRunZMQSubscriberReconnects(t *testing.T) {
	pub1, ep := startZMQPub(t, "tcp://127.0.0.1:0")
	msgs := make(chan pool.ZMQMessage, 16)
	var connects atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pool.RunZMQSubscriber(ctx, pool.ZMQSubscriberOptions{
			Endpoint:   ep,
			Topics:     []string{"hashblock"},
			OnMessage:  func(m pool.ZMQMessage) { msgs <- m },
			OnConnect:  func() { connects.Add(1) },
			MinBackoff: 20 * time.Millisecond,
			MaxBackoff: 200 * time.Millisecond,
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("RunZMQSubscriber returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunZMQSubscriber did not return after cancel")
		}
	}()

	expect := func(pub zmq4.Socket, seq uint32) {
		t.Helper()
		waitSubscribed(t, pub, "hashblock")
		hash := bytes.Repeat([]byte{byte(seq)}, 32)
		if err := pub.Send(hashblockMsg(hash, seq)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if m.Topic != "hashblock" || !bytes.Equal(m.Body, hash) || !m.HasSeq || m.Seq != seq {
				t.Fatalf("message %+v, want hashblock %x seq %d", m, hash, seq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d not delivered", seq)
		}
	}
	expect(pub1, 1)
	pub1.Close()
	// The old publisher's port is free again; a new one takes it.
	var pub2 zmq4.Socket
	deadline := time.Now().Add(10 * time.Second)
	for {
		pub2 = zmq4.NewPub(context.Background())
		err := pub2.Listen(ep)
		if err == nil {
			break
		}
		pub2.Close()
		if time.Now().After(deadline) {
			t.Fatalf("relisten on %s: %v", ep, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer pub2.Close()
	expect(pub2, 2)
	if n := connects.Load(); n < 2 {
		t.Fatalf("OnConnect called %d times, want at least 2 (initial and after the redial)", n)
	}
}

// zmtpGreeting is a ZMTP 3.0 NULL greeting as a peer sends it.
func zmtpGreeting(major byte, mech string) []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10] = 0xff, 0x7f, major
	copy(g[12:32], mech)
	return g
}

func zmtpCmd(name string, props ...string) []byte {
	body := append([]byte{byte(len(name))}, name...)
	for i := 0; i+1 < len(props); i += 2 {
		body = append(body, byte(len(props[i])))
		body = append(body, props[i]...)
		body = binary.BigEndian.AppendUint32(body, uint32(len(props[i+1])))
		body = append(body, props[i+1]...)
	}
	return append([]byte{0x04, byte(len(body))}, body...)
}

// scriptedPeer accepts one connection and plays script on it: a stand-in for
// broken or hostile publishers, which no real ZeroMQ library will imitate.
func scriptedPeer(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	return "tcp://" + l.Addr().String()
}

// goodHandshake plays a correct PUB handshake and consumes the subscriber's
// greeting, READY and subscription.
func goodHandshake(c net.Conn) bool {
	if _, err := c.Write(append(zmtpGreeting(3, "NULL"), zmtpCmd("READY", "Socket-Type", "PUB")...)); err != nil {
		return false
	}
	buf := make([]byte, 64+2+len("\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB")+2+len("\x01hashblock"))
	_, err := io.ReadFull(c, buf)
	return err == nil
}

func TestDialZMQBadPeers(t *testing.T) {
	tests := []struct {
		name     string
		script   func(c net.Conn)
		protocol bool // a *ZMQError is expected, not an I/O error
		// silent peers never answer: only the dial's context ends it.
		silent bool
	}{
		{name: "not ZMTP", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(append([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), make([]byte, 64)...))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "ZMTP 2", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(zmtpGreeting(1, "NULL"))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "CURVE security", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(zmtpGreeting(3, "CURVE"))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "ERROR instead of READY", protocol: true, script: func(c net.Conn) {
			body := "\x05ERROR\x0cinvalid type"
			_, _ = c.Write(append(append(zmtpGreeting(3, "NULL"), 0x04, byte(len(body))), body...))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "REP socket", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(append(zmtpGreeting(3, "NULL"), zmtpCmd("READY", "Socket-Type", "REP")...))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "message frame instead of READY", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(append(zmtpGreeting(3, "NULL"), 0x00, 0x01, 'x'))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "truncated READY property", protocol: true, script: func(c net.Conn) {
			_, _ = c.Write(append(zmtpGreeting(3, "NULL"), 0x04, 0x08, 5, 'R', 'E', 'A', 'D', 'Y', 0x0b, 'S'))
			_, _ = io.Copy(io.Discard, c)
		}},
		{name: "closes at once", script: func(c net.Conn) {}},
		{name: "never answers", silent: true, script: func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := scriptedPeer(t, tc.script)
			// A short deadline is for the silent peer alone: the others
			// answer at once, and on a slow machine a short one could
			// expire first and turn the protocol error under test into
			// an I/O error.
			wait := 10 * time.Second
			if tc.silent {
				wait = 500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			z, err := pool.DialZMQ(ctx, ep, "hashblock")
			if err == nil {
				z.Close()
				t.Fatal("DialZMQ succeeded against a broken peer")
			}
			var ze *pool.ZMQError
			if tc.protocol != errors.As(err, &ze) {
				t.Fatalf("DialZMQ error %v (%T); want a protocol error: %v", err, err, tc.protocol)
			}
		})
	}
}

// TestZMQReadMessageFrames plays frames after a correct handshake.
func TestZMQReadMessageFrames(t *testing.T) {
	long := func(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0x02}, n) }
	tests := []struct {
		name     string
		frames   []byte
		want     [][]byte // nil: an error is expected
		protocol bool
	}{
		{name: "three short frames", frames: []byte{0x01, 1, 'a', 0x01, 2, 'b', 'c', 0x00, 0},
			want: [][]byte{[]byte("a"), []byte("bc"), {}}},
		{name: "long frame", frames: append(long(300), bytes.Repeat([]byte{7}, 300)...),
			want: [][]byte{bytes.Repeat([]byte{7}, 300)}},
		{name: "ping is answered and skipped", frames: []byte{0x04, 7, 4, 'P', 'I', 'N', 'G', 0, 10, 0x00, 1, 'z'},
			want: [][]byte{[]byte("z")}},
		{name: "oversized frame", frames: long(1 << 40), protocol: true},
		{name: "reserved flag bits", frames: []byte{0x80, 1, 'a'}, protocol: true},
		{name: "too many frames", frames: bytes.Repeat([]byte{0x01, 0}, 100), protocol: true},
		{name: "command inside a message", frames: []byte{0x01, 1, 'a', 0x04, 5, 4, 'P', 'I', 'N', 'G'}, protocol: true},
		{name: "error command", frames: []byte{0x04, 9, 5, 'E', 'R', 'R', 'O', 'R', 2, 'n', 'o'}, protocol: true},
		{name: "truncated frame", frames: []byte{0x00, 10, 'a'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := scriptedPeer(t, func(c net.Conn) {
				if !goodHandshake(c) {
					return
				}
				_, _ = c.Write(tc.frames)
				// Hold the connection open for a "PONG"; then close so a
				// truncated frame ends in EOF.
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				_, _ = io.Copy(io.Discard, c)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			z, err := pool.DialZMQ(ctx, ep, "hashblock")
			if err != nil {
				t.Fatalf("DialZMQ: %v", err)
			}
			defer z.Close()
			frames, err := z.ReadMessage()
			if tc.want != nil {
				if err != nil || !slices.EqualFunc(frames, tc.want, bytes.Equal) {
					t.Fatalf("ReadMessage = %x, %v; want %x", frames, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadMessage = %x; want an error", frames)
			}
			var ze *pool.ZMQError
			if tc.protocol != errors.As(err, &ze) {
				t.Fatalf("ReadMessage error %v; want a protocol error: %v", err, tc.protocol)
			}
		})
	}
}

func TestRunZMQSubscriberOptions(t *testing.T) {
	tests := []struct {
		name string
		o    pool.ZMQSubscriberOptions
	}{
		{name: "no scheme", o: pool.ZMQSubscriberOptions{Endpoint: "127.0.0.1:28332", OnMessage: func(pool.ZMQMessage) {}}},
		{name: "ipc", o: pool.ZMQSubscriberOptions{Endpoint: "ipc:///tmp/x", OnMessage: func(pool.ZMQMessage) {}}},
		{name: "no port", o: pool.ZMQSubscriberOptions{Endpoint: "tcp://127.0.0.1", OnMessage: func(pool.ZMQMessage) {}}},
		{name: "no handler", o: pool.ZMQSubscriberOptions{Endpoint: "tcp://127.0.0.1:28332"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := pool.RunZMQSubscriber(ctx, tc.o)
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RunZMQSubscriber(%+v) = %v; want an immediate options error", tc.o.Endpoint, err)
			}
		})
	}
}
