package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Server is a private PostgreSQL cluster for tests that stop, kill or
// restart the server, which they must never do to the shared one.
type Server struct {
	t      testing.TB
	bin    string
	data   string
	port   int
	osUser string // non-empty when running as root: the user to run postgres as
}

// NewServer initialises and starts a cluster of its own in a temporary
// directory, stopped and removed when the test ends. It takes a second or
// two, so keep it for tests that need it.
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := os.MkdirTemp("", "twpg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, data: filepath.Join(dir, "data"), port: freePort(t)}
	t.Cleanup(func() {
		// Best effort: the server may have been stopped by the test.
		_, _ = s.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		s.osUser = "tokenwarden-pg"
		if _, err := user.Lookup(s.osUser); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", s.osUser).CombinedOutput(); err != nil {
				t.Fatalf("pgtest: useradd: %v: %s", err, out)
			}
		}
		if out, err := exec.Command("chown", "-R", s.osUser, dir).CombinedOutput(); err != nil {
			t.Fatalf("pgtest: chown: %v: %s", err, out)
		}
	}
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "tokenwarden", "--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("pgtest: initdb: %v: %s", err, out)
	}
	s.Start()
	return s
}

// DSN returns the URL of the cluster's postgres database.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://tokenwarden@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=50", s.port, s.data)
	if out, err := s.pgctl("start", "-w", "-t", "60", "-o", opts, "-l", filepath.Join(s.data, "server.log")); err != nil {
		s.t.Fatalf("pgtest: start: %v: %s", err, out)
	}
}

// Stop shuts the server down the way a restart or an outage does: fast,
// disconnecting every client.
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.pgctl("stop", "-w", "-m", "fast"); err != nil {
		s.t.Fatalf("pgtest: stop: %v: %s", err, out)
	}
}

func (s *Server) pgctl(args ...string) ([]byte, error) {
	return s.run(filepath.Join(s.bin, "pg_ctl"), append([]string{"-D", s.data}, args...)...)
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	if s.osUser != "" {
		args = append([]string{"-u", s.osUser, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

// pgBin finds the directory of the PostgreSQL server binaries.
func pgBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(resolved), nil
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries (pg_ctl) on PATH or under /usr/lib/postgresql")
	}
	return dirs[0], nil
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// DumpSchema returns pg_dump's schema-only dump of the database at dsn,
// without owners, privileges and the tables named in exclude. pg_dump is
// taken from the PostgreSQL binaries next to pg_ctl, those of the server
// the tests run against.
func DumpSchema(t testing.TB, dsn string, exclude ...string) string {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	args := []string{"--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn}
	for _, e := range exclude {
		args = append(args, "--exclude-table="+e)
	}
	cmd := exec.Command(filepath.Join(bin, "pg_dump"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pgtest: pg_dump: %v: %s", err, stderr.String())
	}
	// pg_dump brackets its output with \restrict KEY and \unrestrict KEY,
	// a random key per run: not part of the schema.
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, `\restrict `) && !strings.HasPrefix(l, `\unrestrict `) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
