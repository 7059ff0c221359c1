package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// The range ports are taken from: below Linux's default ephemeral range
// (32768-60999), so no outgoing connection is given one of them.
const (
	low  = 20000
	high = 32000
)

var (
	mu    sync.Mutex
	given = map[int]*os.File{}
)

// lockDir holds one lock file per port handed out by a running process.
func lockDir() string { return filepath.Join(os.TempDir(), "metalkube-ports") }

// Free returns a TCP port on 127.0.0.1 that is free now and that no other
// caller of Free, in this process or another one, is given while this
// process runs.
func Free() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	if err := os.MkdirAll(lockDir(), 0o777); err != nil { //nolint:gosec // shared by every user's test processes
		return 0, err
	}
	for range 200 {
		p := low + rand.IntN(high-low) //nolint:gosec // a port number, not a secret
		if _, ok := given[p]; ok {
			continue
		}
		f, ok, err := lock(p)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			_ = f.Close()
			continue
		}
		_ = l.Close()
		given[p] = f
		return p, nil
	}
	return 0, errors.New("no free port on 127.0.0.1 after 200 tries")
}

// Addr returns "127.0.0.1:<port>" for a port from Free.
func Addr() (string, error) {
	p, err := Free()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// lock takes the port's lock file without waiting; ok is false when another
// process holds it. The lock lasts until the file is closed, which for a
// port handed out is the end of the process.
func lock(p int) (*os.File, bool, error) {
	f, err := os.OpenFile(filepath.Join(lockDir(), strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666) //nolint:gosec // a lock file with no content
	if err != nil {
		return nil, false, fmt.Errorf("port lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("port lock: %w", err)
	}
	return f, true, nil
}
