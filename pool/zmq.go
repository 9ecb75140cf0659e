package pool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// This file is a minimal ZeroMQ subscriber speaking ZMTP 3.0 (rfc.zeromq.org
// 23/ZMTP) with the NULL mechanism, enough to receive Bitcoin Core's
// `hashblock` notifications without a cgo or third-party dependency.
//
// Wire summary: both sides send a 64-byte greeting (signature ff 00…00 7f,
// version 3.0, mechanism "NULL" padded to 20 bytes, as-server 0, 31 bytes of
// filler), then a READY command carrying the Socket-Type property. Every
// frame starts with a flags byte (bit 0 MORE, bit 1 LONG size, bit 2
// COMMAND) and a 1-byte or 8-byte big-endian size. A ZMTP 3.0 subscriber
// subscribes by sending a one-frame message 0x01 followed by the topic.

const (
	zmtpFlagMore    = 0x01
	zmtpFlagLong    = 0x02
	zmtpFlagCommand = 0x04
	zmtpGreetingLen = 64
)

// ZMQ limits. A hashblock message is three small frames; the bounds only
// protect against a broken or hostile peer.
const (
	// ZMQMaxFrame is the largest frame the subscriber accepts.
	ZMQMaxFrame = 4 << 20
	// zmqMaxFrames is the most frames in one message.
	zmqMaxFrames = 16
)

// ZMQError is a protocol violation by the peer (a bad greeting, an ERROR
// command, an oversized frame). The connection is dropped and redialled.
type ZMQError struct {
	Endpoint string
	Reason   string
}

func (e *ZMQError) Error() string { return "zmq " + e.Endpoint + ": " + e.Reason }

// ZMQConn is one subscribed ZMTP connection. ReadMessage is not safe for
// concurrent use; Close may be called from any goroutine.
type ZMQConn struct {
	endpoint string
	conn     net.Conn
	r        *bufio.Reader
	wmu      sync.Mutex
	// peerType is the peer's Socket-Type from its READY command.
	peerType string
}

// zmqAddr turns tcp://host:port into host:port.
func zmqAddr(endpoint string) (string, error) {
	addr, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok {
		return "", fmt.Errorf("zmq endpoint %q: want tcp://host:port", endpoint)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("zmq endpoint %q: %w", endpoint, err)
	}
	return addr, nil
}

// DialZMQ connects to a PUB socket at endpoint (tcp://host:port), performs
// the ZMTP 3.0 handshake as a SUB socket and subscribes to topics. The
// handshake is bounded by ctx.
func DialZMQ(ctx context.Context, endpoint string, topics ...string) (*ZMQConn, error) {
	addr, err := zmqAddr(endpoint)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("zmq %s: %w", endpoint, err)
	}
	z := &ZMQConn{endpoint: endpoint, conn: conn, r: bufio.NewReader(conn)}
	// The handshake must not outlive ctx; afterwards reads block until a
	// message arrives or Close.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err = z.handshake(topics)
	if !stop() || err != nil {
		conn.Close()
		if err == nil || ctx.Err() != nil {
			return nil, fmt.Errorf("zmq %s: handshake: %w", endpoint, context.Cause(ctx))
		}
		return nil, err
	}
	return z, nil
}

func (z *ZMQConn) handshake(topics []string) error {
	var g [zmtpGreetingLen]byte
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	if err := z.write(g[:]); err != nil {
		return err
	}
	var peer [zmtpGreetingLen]byte
	if _, err := io.ReadFull(z.r, peer[:]); err != nil {
		return fmt.Errorf("zmq %s: read greeting: %w", z.endpoint, err)
	}
	if peer[0] != 0xff || peer[9] != 0x7f {
		return &ZMQError{z.endpoint, "peer greeting has no ZMTP signature"}
	}
	if peer[10] < 3 {
		return &ZMQError{z.endpoint, fmt.Sprintf("peer speaks ZMTP %d.%d, want 3.x", peer[10], peer[11])}
	}
	if mech := string(bytes.TrimRight(peer[12:32], "\x00")); mech != "NULL" {
		return &ZMQError{z.endpoint, fmt.Sprintf("peer security mechanism %q, only NULL is supported", mech)}
	}

	ready := zmtpCommand("READY", "Socket-Type", "SUB")
	if err := z.write(ready); err != nil {
		return err
	}
	cmd, body, err := z.readCommand()
	if err != nil {
		return err
	}
	switch cmd {
	case "READY":
		props, err := zmtpProperties(body)
		if err != nil {
			return &ZMQError{z.endpoint, "READY: " + err.Error()}
		}
		z.peerType = props["socket-type"]
		if z.peerType != "PUB" && z.peerType != "XPUB" {
			return &ZMQError{z.endpoint, fmt.Sprintf("peer socket type %q cannot feed a SUB socket", z.peerType)}
		}
	case "ERROR":
		return &ZMQError{z.endpoint, "peer refused: " + zmtpErrorReason(body)}
	default:
		return &ZMQError{z.endpoint, fmt.Sprintf("expected READY, got command %q", cmd)}
	}
	for _, t := range topics {
		sub := append([]byte{1}, t...)
		if err := z.write(zmtpFrame(nil, 0, sub)); err != nil {
			return err
		}
	}
	return nil
}

// PeerSocketType is the peer's Socket-Type (PUB or XPUB).
func (z *ZMQConn) PeerSocketType() string { return z.peerType }

func (z *ZMQConn) write(b []byte) error {
	z.wmu.Lock()
	defer z.wmu.Unlock()
	if _, err := z.conn.Write(b); err != nil {
		return fmt.Errorf("zmq %s: write: %w", z.endpoint, err)
	}
	return nil
}

// zmtpFrame appends a frame with flags and body to dst.
func zmtpFrame(dst []byte, flags byte, body []byte) []byte {
	if len(body) > 255 {
		dst = append(dst, flags|zmtpFlagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(len(body)))
	} else {
		dst = append(dst, flags, byte(len(body)))
	}
	return append(dst, body...)
}

// zmtpCommand encodes a command frame with name and property pairs.
func zmtpCommand(name string, props ...string) []byte {
	body := append([]byte{byte(len(name))}, name...)
	for i := 0; i+1 < len(props); i += 2 {
		body = append(body, byte(len(props[i])))
		body = append(body, props[i]...)
		body = binary.BigEndian.AppendUint32(body, uint32(len(props[i+1])))
		body = append(body, props[i+1]...)
	}
	return zmtpFrame(nil, zmtpFlagCommand, body)
}

// zmtpProperties decodes READY metadata; names are case-insensitive.
func zmtpProperties(b []byte) (map[string]string, error) {
	props := map[string]string{}
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+4 {
			return nil, errors.New("truncated property")
		}
		name := strings.ToLower(string(b[1 : 1+n]))
		b = b[1+n:]
		vn := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(vn) > uint64(len(b)) {
			return nil, errors.New("truncated property value")
		}
		props[name] = string(b[:vn])
		b = b[vn:]
	}
	return props, nil
}

// zmtpErrorReason decodes an ERROR command body (one short string).
func zmtpErrorReason(b []byte) string {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return "no reason given"
	}
	return string(b[1 : 1+int(b[0])])
}

// readFrame reads one frame.
func (z *ZMQConn) readFrame() (flags byte, body []byte, err error) {
	flags, err = z.r.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("zmq %s: read: %w", z.endpoint, err)
	}
	if flags&^(zmtpFlagMore|zmtpFlagLong|zmtpFlagCommand) != 0 {
		return 0, nil, &ZMQError{z.endpoint, fmt.Sprintf("frame flags %#02x have reserved bits set", flags)}
	}
	var size uint64
	if flags&zmtpFlagLong != 0 {
		var b [8]byte
		if _, err := io.ReadFull(z.r, b[:]); err != nil {
			return 0, nil, fmt.Errorf("zmq %s: read: %w", z.endpoint, err)
		}
		size = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := z.r.ReadByte()
		if err != nil {
			return 0, nil, fmt.Errorf("zmq %s: read: %w", z.endpoint, err)
		}
		size = uint64(b)
	}
	if size > ZMQMaxFrame {
		return 0, nil, &ZMQError{z.endpoint, fmt.Sprintf("frame of %d bytes exceeds the %d-byte limit", size, ZMQMaxFrame)}
	}
	body = make([]byte, size)
	if _, err := io.ReadFull(z.r, body); err != nil {
		return 0, nil, fmt.Errorf("zmq %s: read: %w", z.endpoint, err)
	}
	return flags, body, nil
}

// readCommand reads one command frame and splits its name off.
func (z *ZMQConn) readCommand() (name string, body []byte, err error) {
	flags, b, err := z.readFrame()
	if err != nil {
		return "", nil, err
	}
	if flags&zmtpFlagCommand == 0 {
		return "", nil, &ZMQError{z.endpoint, "expected a command frame"}
	}
	return splitCommand(z.endpoint, b)
}

func splitCommand(endpoint string, b []byte) (string, []byte, error) {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return "", nil, &ZMQError{endpoint, "malformed command frame"}
	}
	return string(b[1 : 1+int(b[0])]), b[1+int(b[0]):], nil
}

// ReadMessage returns the next message's frames. Commands the peer sends
// after the handshake are handled (PING is answered) or skipped.
func (z *ZMQConn) ReadMessage() ([][]byte, error) {
	var frames [][]byte
	for {
		flags, body, err := z.readFrame()
		if err != nil {
			return nil, err
		}
		if flags&zmtpFlagCommand != 0 {
			if len(frames) > 0 {
				return nil, &ZMQError{z.endpoint, "command frame inside a message"}
			}
			name, rest, err := splitCommand(z.endpoint, body)
			if err != nil {
				return nil, err
			}
			switch name {
			case "PING":
				// ZMTP 3.1 heartbeat: PING ttl(2) context; answer PONG context.
				var pctx []byte
				if len(rest) >= 2 {
					pctx = rest[2:]
				}
				pong := append([]byte{4}, "PONG"...)
				if err := z.write(zmtpFrame(nil, zmtpFlagCommand, append(pong, pctx...))); err != nil {
					return nil, err
				}
			case "ERROR":
				return nil, &ZMQError{z.endpoint, "peer error: " + zmtpErrorReason(rest)}
			}
			continue
		}
		frames = append(frames, body)
		if flags&zmtpFlagMore == 0 {
			return frames, nil
		}
		if len(frames) >= zmqMaxFrames {
			return nil, &ZMQError{z.endpoint, fmt.Sprintf("message has more than %d frames", zmqMaxFrames)}
		}
	}
}

// Close closes the connection; a blocked ReadMessage returns an error.
func (z *ZMQConn) Close() error { return z.conn.Close() }

// ZMQMessage is one publication: topic, body and, when the publisher sends
// one (Bitcoin Core does), the 4-byte little-endian sequence number.
type ZMQMessage struct {
	Topic  string
	Body   []byte
	Seq    uint32
	HasSeq bool
}

// ZMQSubscriberOptions configures RunZMQSubscriber.
type ZMQSubscriberOptions struct {
	// Endpoint is the publisher, tcp://host:port.
	Endpoint string
	// Topics to subscribe to, for example "hashblock".
	Topics []string
	// OnMessage is called for every message on the subscriber goroutine.
	OnMessage func(ZMQMessage)
	// OnConnect, when set, is called after every successful handshake, so
	// that the caller can catch up on what it missed while disconnected.
	OnConnect func()
	// MinBackoff and MaxBackoff bound the redial delay (100 ms and 10 s by
	// default); the delay doubles after each failure and resets after a
	// successful handshake.
	MinBackoff, MaxBackoff time.Duration
	Log                    *zap.Logger
}

// RunZMQSubscriber keeps a subscription to o.Endpoint until ctx ends,
// redialling with backoff whenever the connection fails. It returns
// ctx.Err() at the end, or an error at once when the options are invalid.
func RunZMQSubscriber(ctx context.Context, o ZMQSubscriberOptions) error {
	if _, err := zmqAddr(o.Endpoint); err != nil {
		return err
	}
	if o.OnMessage == nil {
		return errors.New("zmq: OnMessage is required")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("endpoint", o.Endpoint))
	backoff := o.MinBackoff
	down := false
	for ctx.Err() == nil {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		z, err := DialZMQ(hctx, o.Endpoint, o.Topics...)
		cancel()
		if err == nil {
			if down {
				log.Warn("zmq subscription restored")
			}
			down = false
			backoff = o.MinBackoff
			if o.OnConnect != nil {
				o.OnConnect()
			}
			err = readZMQ(ctx, z, o)
		}
		if ctx.Err() != nil {
			break
		}
		if !down {
			// One warning per outage; the retries are logged at debug.
			log.Warn("zmq subscription down, redialling", zap.Error(err))
			down = true
		} else {
			log.Debug("zmq redial failed", zap.Error(err), zap.Duration("backoff", backoff))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
	return ctx.Err()
}

// readZMQ delivers messages until the connection fails or ctx ends.
func readZMQ(ctx context.Context, z *ZMQConn, o ZMQSubscriberOptions) error {
	stop := context.AfterFunc(ctx, func() { z.Close() })
	defer stop()
	defer z.Close()
	for {
		frames, err := z.ReadMessage()
		if err != nil {
			return err
		}
		m := ZMQMessage{Topic: string(frames[0])}
		if !zmqTopicMatch(m.Topic, o.Topics) {
			continue // publishers filter, but a message we did not ask for is dropped
		}
		if len(frames) > 1 {
			m.Body = frames[1]
		}
		if len(frames) > 2 && len(frames[2]) == 4 {
			m.Seq, m.HasSeq = binary.LittleEndian.Uint32(frames[2]), true
		}
		o.OnMessage(m)
	}
}

// zmqTopicMatch applies ZeroMQ's prefix matching.
func zmqTopicMatch(topic string, subs []string) bool {
	for _, s := range subs {
		if strings.HasPrefix(topic, s) {
			return true
		}
	}
	return false
}
