package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A bbolt file can be open in one process only, so while 'babelfeed run'
// holds the store the other commands run inside the daemon: the CLI sends
// its command line over a unix socket beside the store, the daemon runs the
// same cobra command against its open store, and the output comes back.
// One code path serves both cases, so output never differs.

// socketPath is where the daemon serving the store at dbPath listens.
func socketPath(dbPath string) string { return dbPath + ".sock" }

// cliRequest is a command line sent to the daemon.
type cliRequest struct {
	Args  []string `json:"args"`
	Cwd   string   `json:"cwd"`
	Stdin []byte   `json:"stdin,omitempty"`
}

// cliResponse is what the command printed, and its error if it failed.
type cliResponse struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Error  string `json:"error,omitempty"`
	Code   int    `json:"code,omitempty"` // exit status when not 1 (see exitError)
}

const maxForwardedStdin = 16 << 20

func unixClient(sock string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
}

// daemonAnswers reports whether a daemon answers on sock. A socket file
// left by a killed daemon does not answer.
func daemonAnswers(sock string) bool {
	if _, err := os.Stat(sock); err != nil {
		return false
	}
	resp, err := unixClient(sock, 2*time.Second).Get("http://babelfeed/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// forwardable wraps the RunE of every command that uses the store so that
// it runs in the daemon when one serves the store.
func (a *app) forwardable(cmds ...*cobra.Command) {
	for _, c := range cmds {
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if a.daemon == nil {
				path, err := a.storePath()
				if err != nil {
					return err
				}
				if isPostgres(path) {
					// Every process opens a shared store itself.
					return run(cmd, args)
				}
				if sock := socketPath(path); daemonAnswers(sock) {
					return a.forward(cmd, args, sock)
				}
			}
			return run(cmd, args)
		}
	}
}

// forward sends the command line to the daemon and prints what it printed.
func (a *app) forward(cmd *cobra.Command, args []string, sock string) error {
	argv := strings.Fields(cmd.CommandPath())[1:]
	var flagErr error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "db" || f.Name == "store" {
			return // the daemon has its own store: the one this socket belongs to
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				argv = append(argv, "--"+f.Name+"="+v)
			}
			return
		}
		argv = append(argv, "--"+f.Name+"="+f.Value.String())
	})
	if flagErr != nil {
		return flagErr
	}
	argv = append(argv, "--")
	argv = append(argv, args...)
	req := cliRequest{Args: argv}
	req.Cwd, _ = os.Getwd()
	for _, arg := range args {
		if arg == "-" {
			b, err := io.ReadAll(io.LimitReader(a.in, maxForwardedStdin+1))
			if err != nil {
				return fmt.Errorf("read standard input: %w", err)
			}
			if len(b) > maxForwardedStdin {
				return fmt.Errorf("standard input is over %d MB", maxForwardedStdin>>20)
			}
			req.Stdin = b
		}
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, "http://babelfeed/cli", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := unixClient(sock, 0).Do(hreq)
	if err != nil {
		return fmt.Errorf("talk to the babelfeed daemon on %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("babelfeed daemon on %s answered %s: %s", sock, resp.Status, strings.TrimSpace(string(msg)))
	}
	var out cliResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("read the babelfeed daemon's answer: %w", err)
	}
	io.WriteString(a.out, out.Stdout)
	io.WriteString(a.errOut, out.Stderr)
	if out.Error != "" {
		if out.Code > 1 {
			return exitError{code: out.Code, err: errors.New(out.Error)}
		}
		return errors.New(out.Error)
	}
	return nil
}

// cliHandler serves forwarded command lines (POST /cli) next to the API.
func (a *app) cliHandler(d *daemonCtx, apiHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", apiHandler)
	mux.HandleFunc("POST /cli", func(w http.ResponseWriter, r *http.Request) {
		var req cliRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*maxForwardedStdin)).Decode(&req); err != nil {
			http.Error(w, "bad CLI request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var stdout, stderr bytes.Buffer
		inner := &app{in: bytes.NewReader(req.Stdin), out: &stdout, errOut: &stderr, daemon: d, cwd: req.Cwd}
		root := inner.rootCmd()
		root.SetArgs(req.Args)
		var resp cliResponse
		if err := root.ExecuteContext(r.Context()); err != nil {
			resp.Error = err.Error()
			var ee exitError
			if errors.As(err, &ee) {
				resp.Code = ee.code
			}
		}
		resp.Stdout, resp.Stderr = stdout.String(), stderr.String()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
	return mux
}

// resolvePath makes a file name from the command line relative to the
// caller's working directory, which inside the daemon is not its own.
func (a *app) resolvePath(name string) string {
	if a.cwd == "" || name == "-" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(a.cwd, name)
}
