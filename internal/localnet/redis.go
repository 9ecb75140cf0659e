package localnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RedisEnv names the environment variable that points at a redis-server
// binary, for machines where it is not on PATH.
const RedisEnv = "TARBELA_REDIS_SERVER"

// ErrRedisMissing is returned (wrapped) by FindRedis when no redis-server
// binary can be found; its text names the command that installs one.
var ErrRedisMissing = errors.New("redis-server not found: install it with `apt-get install -y redis-server` (or set " + RedisEnv + ")")

// RedisOptions configures StartRedis. The zero value starts an empty,
// non-persistent server on a free loopback port.
type RedisOptions struct {
	// Binary is the redis-server executable. When empty, RedisEnv is
	// consulted, then PATH.
	Binary string
	// Dir is the parent of the server's fresh working directory; the system
	// temporary directory (removed again by Stop) when empty.
	Dir string
	// Password, when set, is required of clients (requirepass).
	Password string
	// Log also receives the server's output (it always goes to redis.out in
	// the working directory as well).
	Log io.Writer
	// Args are extra redis-server flags, e.g. "--maxmemory", "64mb".
	Args []string
	// StartTimeout bounds the wait for PING (15 s by default).
	StartTimeout time.Duration
	// SentinelConfig, when set, runs the server as a Sentinel: these
	// lines ("sentinel monitor ...") are written to sentinel.conf in the
	// working directory, which the Sentinel then keeps its state in.
	SentinelConfig string
}

// Redis is a running redis-server on 127.0.0.1.
type Redis struct {
	// Addr is the listener, 127.0.0.1:port.
	Addr string
	// Password is the requirepass value ("" for none).
	Password string
	// Dir is the server's working directory, holding redis.out.
	Dir string
	// Binary is the executable that runs.
	Binary string

	opts      RedisOptions
	port      int
	cmd       *exec.Cmd
	exited    chan struct{}
	removeDir bool
	stopOnce  sync.Once
	// mu orders Freeze/Thaw and Restart against Stop so a stopped server
	// is never left frozen (a SIGSTOPped process ignores SIGTERM until
	// continued) and a replaced one hands its directory on.
	mu       sync.Mutex
	stopped  bool
	replaced bool
}

// StartRedis starts redis-server on a free loopback port with persistence
// off (--save ” --appendonly no) and waits until it answers PING. Stop it
// with Stop. A port taken between choosing and binding it is retried.
func StartRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	bin, err := FindRedis(o.Binary)
	if err != nil {
		return nil, err
	}
	o.Binary = bin
	if o.StartTimeout <= 0 {
		o.StartTimeout = 15 * time.Second
	}
	return retryStart(ctx, "redis-server", func() (*Redis, error) {
		dir, cleanup, err := procDir(o.Dir, "redis-")
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		port, err := FreePort()
		if err != nil {
			cleanup()
			return nil, err
		}
		r, err := startRedis(ctx, o, dir, port)
		if err != nil {
			cleanup()
			return nil, err
		}
		r.removeDir = o.Dir == ""
		return r, nil
	})
}

// Restart starts redis-server again after its process has exited, on the
// same port and working directory with the same flags, and waits until it
// answers PING. What it finds in the directory is what it persisted: with
// StartRedis's flags nothing, so a server that should keep its data across
// a restart is started with persistence in Args ("--appendonly", "yes").
// It returns the new server, which owns the directory from then on: r's
// Stop does nothing afterwards. On failure (the port was taken meanwhile,
// say) r is unchanged and Restart may be called again. It fails when r
// still runs or was stopped.
func (r *Redis) Restart(ctx context.Context) (*Redis, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := canRestart(r.stopped, r.replaced, r.exited); err != nil {
		return nil, fmt.Errorf("localnet: redis-server restart: %w", err)
	}
	nr, err := startRedis(ctx, r.opts, r.Dir, r.port)
	if err != nil {
		return nil, fmt.Errorf("localnet: redis-server restart: %w", err)
	}
	nr.removeDir = r.removeDir
	r.replaced = true
	return nr, nil
}

// ExitStatus says how the process ended ("exit status 1", "signal:
// killed"), or "running".
func (r *Redis) ExitStatus() string { return exitStatus(r.cmd, r.exited) }

// OutputFile is the file that holds the server's output, across restarts.
func (r *Redis) OutputFile() string { return filepath.Join(r.Dir, "redis.out") }

// FindRedis returns the redis-server to run: binary when set, else the
// RedisEnv variable, else redis-server on PATH. The error wraps
// ErrRedisMissing when there is none.
func FindRedis(binary string) (string, error) {
	if binary == "" {
		binary = os.Getenv(RedisEnv)
	}
	if binary == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return "", fmt.Errorf("localnet: %w", ErrRedisMissing)
		}
		return p, nil
	}
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("localnet: redis-server %q: %w (%w)", binary, err, ErrRedisMissing)
	}
	return binary, nil
}

// startRedis runs redis-server in dir on port and waits until it answers
// PING. It leaves dir in place when it fails.
func startRedis(ctx context.Context, o RedisOptions, dir string, port int) (*Redis, error) {
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes",
	}
	if o.Password != "" {
		args = append(args, "--requirepass", o.Password)
	}
	if o.SentinelConfig != "" {
		conf := filepath.Join(dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil { // a restart keeps what it learnt
			if err := os.WriteFile(conf, []byte(o.SentinelConfig), 0o600); err != nil {
				return nil, fmt.Errorf("sentinel.conf: %w", err)
			}
		}
		args = append([]string{conf, "--sentinel"}, args...)
	}
	args = append(args, o.Args...)
	// Appended to, so that a restart keeps what the previous run said.
	out, err := os.OpenFile(filepath.Join(dir, "redis.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("redis.out: %w", err)
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	if o.Log != nil {
		cmd.Stdout = io.MultiWriter(out, o.Log)
	} else {
		cmd.Stdout = out
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	r := &Redis{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Password: o.Password,
		Dir: dir, Binary: o.Binary, opts: o, port: port, cmd: cmd, exited: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(r.exited)
	}()
	wait, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	for {
		err := r.Ping(wait)
		if err == nil {
			// The port was free a moment before the server was started;
			// another redis-server (another test's) may have bound it
			// first and answer PING as well. The start counts only when
			// the server answering is the process started here.
			var pid int
			if pid, err = r.serverPID(wait); err == nil {
				if pid == cmd.Process.Pid {
					return r, nil
				}
				r.Stop()
				return nil, fmt.Errorf("redis-server on %s is another process (pid %d), not the one started (pid %d)", r.Addr, pid, cmd.Process.Pid)
			}
		}
		select {
		case <-r.exited:
			r.Stop()
			return nil, fmt.Errorf("redis-server exited before answering PING: %s", tail(r.OutputFile()))
		case <-wait.Done():
			r.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING: %w (last: %w)", r.Addr, wait.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Ping sends PING (after AUTH when a password is set) on a fresh connection
// and expects PONG. It speaks RESP directly so that this package needs no
// Redis client.
func (r *Redis) Ping(ctx context.Context) error {
	return r.talk(ctx, func(c net.Conn, br *bufio.Reader) error {
		return respCommand(c, br, "+PONG", "PING")
	})
}

// serverPID returns the process id of the server answering on r.Addr
// (INFO server).
func (r *Redis) serverPID(ctx context.Context) (pid int, err error) {
	err = r.talk(ctx, func(c net.Conn, br *bufio.Reader) error {
		info, err := respBulk(c, br, "INFO", "server")
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
				pid, err = strconv.Atoi(v)
				return err
			}
		}
		return errors.New("redis INFO server: no process_id")
	})
	return pid, err
}

// talk opens a fresh connection to r.Addr, sends AUTH when a password is
// set, and runs f on it, within ctx's deadline (5 s without one).
func (r *Redis) talk(ctx context.Context, f func(c net.Conn, br *bufio.Reader) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", r.Addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	br := bufio.NewReader(c)
	if r.Password != "" {
		if err := respCommand(c, br, "+OK", "AUTH", r.Password); err != nil {
			return err
		}
	}
	return f(c, br)
}

// respWrite writes one command as a RESP array.
func respWrite(w io.Writer, args []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("redis %s: %w", args[0], err)
	}
	return nil
}

// respBulk writes one command and returns its bulk-string reply.
func respBulk(w io.Writer, br *bufio.Reader, args ...string) (string, error) {
	if err := respWrite(w, args); err != nil {
		return "", err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("redis %s: %w", args[0], err)
	}
	size, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "$")
	n, err := strconv.Atoi(size)
	if !ok || err != nil || n < 0 {
		return "", fmt.Errorf("redis %s: got %q, want a bulk string", args[0], line)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", fmt.Errorf("redis %s: %w", args[0], err)
	}
	return string(b[:n]), nil
}

// respCommand writes one command as a RESP array and checks the one-line
// reply.
func respCommand(w io.Writer, br *bufio.Reader, want string, args ...string) error {
	if err := respWrite(w, args); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("redis %s: %w", args[0], err)
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		return fmt.Errorf("redis %s: got %q, want %q", args[0], got, want)
	}
	return nil
}

// Freeze stops the server process (SIGSTOP) without closing its sockets:
// clients see a Redis that accepts connections and never answers, the
// outage that is hardest to handle. Thaw resumes it with its data intact.
func (r *Redis) Freeze() error { return r.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (r *Redis) Thaw() error { return r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig os.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return fmt.Errorf("localnet: redis-server on %s is stopped", r.Addr)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("localnet: signal redis-server: %w", err)
	}
	return nil
}

// Exited is closed when the server process has ended.
func (r *Redis) Exited() <-chan struct{} { return r.exited }

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes its
// working directory when StartRedis created it in the system temporary
// directory. It is safe to call more than once and on a frozen server.
func (r *Redis) Stop() {
	r.mu.Lock()
	r.stopped = true
	replaced := r.replaced
	r.mu.Unlock()
	if replaced {
		return
	}
	r.stopOnce.Do(func() {
		if r.cmd != nil && r.cmd.Process != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.exited:
			case <-time.After(10 * time.Second):
				_ = r.cmd.Process.Kill()
				<-r.exited
			}
		}
		if r.removeDir {
			_ = os.RemoveAll(r.Dir)
		}
	})
}
