// Package miniotest starts a real MinIO server on loopback for a test.
//
// The server binary is the one "make minio" builds with go install into the
// tool cache (CXT_MINIO_BIN, or ~/.cache/cxt/tools/minio-<version>/minio).
// A test that needs MinIO fails, rather than skips, when it is missing: the
// integration is part of what make test proves.
package miniotest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"cxt/storage/blob"
	"cxt/storage/cluster/loopback"
)

// Version is the MinIO release the Makefile installs.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Server is a running MinIO.
type Server struct {
	Config  blob.MinIOConfig
	DataDir string // where MinIO keeps objects, for scanning in canary tests
}

// Binary returns the path of the MinIO server binary.
func Binary() string {
	if p := os.Getenv("CXT_MINIO_BIN"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "cxt", "tools", "minio-"+Version[len(Version)-12:], "minio")
}

// Start runs a MinIO server for the duration of t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("MinIO server not found at %s: run `make minio` (make test does it) or set CXT_MINIO_BIN", bin)
	}
	dir := t.TempDir()
	addr, console := loopback.FreeAddr(), loopback.FreeAddr()
	s := &Server{
		Config: blob.MinIOConfig{
			Endpoint: addr, AccessKey: "cxt-test-access", SecretKey: "cxt-test-secret-key-0123", Bucket: "cxt-documents",
		},
		DataDir: filepath.Join(dir, "data"),
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", console, s.DataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.Config.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.Config.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"HOME="+dir,
	)
	logf, _ := os.Create(filepath.Join(dir, "minio.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	// Ready is not enough: MinIO answers "Server not initialized yet" to
	// S3 calls for a moment after its health check passes. It is up when
	// the store can open its bucket.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := blob.NewMinIO(ctx, s.Config)
				cancel()
				if err == nil {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			t.Fatalf("MinIO did not become ready in 60s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
