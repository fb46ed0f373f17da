// Command bench measures cxt's replicated store against raw bbolt on this
// machine and writes the table to docs/performance.md.
//
// Every configuration writes 1 KiB records for the same wall time. The raw
// baseline writes them straight into bbolt in transactions of 1000 with
// fsync on; the replicated runs propose kv.put commands to an in-process
// loopback cluster of 1 or 3 nodes (TLS between nodes, SM4-sealed log and
// values, fsync on the Raft log and the state file).
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/appliance/node"
	"cxt/crypto/keyring"
	"cxt/storage/cluster/loopback"
)

const recordSize = 1024

func main() {
	dur := flag.Duration("duration", 3*time.Second, "how long each configuration writes")
	out := flag.String("out", "docs/performance.md", "where to write the report ('' for stdout only)")
	only := flag.String("only", "", "run only the replicated configuration NODESxWRITERS (e.g. 1x1024), api, flood, workers, payouts, floors, gateway, risk or reconcile")
	files := flag.Int("files", 3, "invitation files of 10,000 workers for the workers measurement")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the replicated runs")
	flag.Parse()
	// The nodes measured run in this process as cxt serve runs them.
	node.TuneRuntime()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	tmp, err := os.MkdirTemp("", "cxt-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dirs := 0
	tempDir := func() string {
		dirs++
		d := filepath.Join(tmp, fmt.Sprintf("d%d", dirs))
		os.MkdirAll(d, 0o700)
		return d
	}

	var rows []row
	raw := 1.0
	if *only == "" || strings.Contains(*only, "x") || *only == "workers" {
		raw = rawBaseline(tempDir(), *dur)
	}
	rows = append(rows, row{"raw bbolt, 1000 records/tx, fsync", 1, 1, raw})
	for _, nodes := range []int{1, 3} {
		for _, writers := range []int{1, 64, 1024} {
			if *only != "" && *only != fmt.Sprintf("%dx%d", nodes, writers) {
				continue
			}
			rate, err := replicated(tempDir, nodes, writers, *dur)
			if err != nil {
				log.Fatalf("%d nodes, %d writers: %v", nodes, writers, err)
			}
			rows = append(rows, row{fmt.Sprintf("replicated, %d node(s)", nodes), nodes, writers, rate})
		}
	}
	// Bulk worker registration, next to the replicated writes of 1 KiB at
	// 1 node and 1024 writers measured in this run (again if -only workers).
	var workerRate, replicatedBase float64
	var workerFloor floorResult
	if *only == "" || *only == "workers" {
		for _, r := range rows {
			if r.nodes == 1 && r.writers == 1024 && strings.HasPrefix(r.what, "replicated") {
				replicatedBase = r.perSec
			}
		}
		if replicatedBase == 0 {
			if replicatedBase, err = replicated(tempDir, 1, 1024, *dur); err != nil {
				log.Fatalf("replicated baseline: %v", err)
			}
		}
		if workerRate, err = workerImport(tempDir(), *files); err != nil {
			log.Fatalf("bulk worker registration: %v", err)
		}
		if workerFloor, err = bestRegistrationFloor(tempDir, *files); err != nil {
			log.Fatalf("the registration floor: %v", err)
		}
	}
	var sealMBs float64
	if *only == "" {
		sealMBs = sealThroughput(*dur)
	}
	var full, bare float64
	if *only == "" || *only == "api" {
		if full, bare, err = apiReads(tempDir(), 64, *dur); err != nil {
			log.Fatalf("API reads: %v", err)
		}
	}

	var alone, flooded float64
	var floodSent int64
	const users = 16
	if *only == "" || *only == "flood" {
		if alone, flooded, floodSent, err = loginFlood(tempDir(), users, 4*(*dur)); err != nil {
			log.Fatalf("login flood: %v", err)
		}
	}

	var payoutResults []payoutResult
	var floors []floorResult
	if *only == "floors" { // the store's floors alone, to stdout
		reg, err := bestRegistrationFloor(tempDir, *files)
		if err != nil {
			log.Fatal(err)
		}
		pay, err := bestPaymentFloors(tempDir)
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range append([]floorResult{reg}, pay...) {
			fmt.Printf("%s: %.0f rows/s, %.1f CPU µs per row\n", f.what, f.perSec, f.cpuUS)
		}
		return
	}
	if *only == "" || *only == "payouts" {
		for _, nodes := range []int{1, 3} {
			base := 0.0
			for _, r := range rows {
				if r.nodes == nodes && r.writers == 1024 && strings.HasPrefix(r.what, "replicated") {
					base = r.perSec
				}
			}
			if base == 0 {
				if base, err = replicated(tempDir, nodes, 1024, *dur); err != nil {
					log.Fatalf("replicated baseline: %v", err)
				}
			}
			// With the bureaus' feed: every cluster speaks the risk set
			// (6), which includes the gateway's (5), so there is no
			// configuration without it any more to compare with.
			res, err := payoutBatch(tempDir, nodes, true)
			if err != nil {
				log.Fatalf("payouts, %d node(s): %v", nodes, err)
			}
			res.baseline = base
			payoutResults = append(payoutResults, res)
		}
		if floors, err = bestPaymentFloors(tempDir); err != nil {
			log.Fatalf("the payment floor: %v", err)
		}
	}

	var risk []riskResult
	if *only == "" || *only == "risk" {
		if risk, err = riskChunks(*dur); err != nil {
			log.Fatalf("risk: %v", err)
		}
	}

	var recon *reconResult
	if *only == "" || *only == "reconcile" {
		r, err := reconcileFiles(1_000_000, *dur)
		if err != nil {
			log.Fatalf("reconcile: %v", err)
		}
		recon = &r
	}

	var gw *gatewayResult
	if *only == "" || *only == "gateway" {
		r, err := gatewayFeed(tempDir)
		if err != nil {
			log.Fatalf("gateway: %v", err)
		}
		gw = &r
	}

	report := render(rows, raw, sealMBs, *dur) + renderAPI(full, bare) + renderFlood(alone, flooded, floodSent, users, 4*(*dur)) +
		renderWorkers(workerRate, workerFloor, replicatedBase, raw, *files) + renderPayouts(payoutResults, floors) + renderGateway(gw) + renderRisk(risk) + renderReconcile(recon)
	fmt.Print(report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type row struct {
	what           string
	nodes, writers int
	perSec         float64
}

func record() []byte {
	b := make([]byte, recordSize)
	rand.Read(b)
	return b
}

// rawBaseline writes records into bbolt in chunks of 1000 per fsynced
// transaction for d and returns records per second.
func rawBaseline(dir string, d time.Duration) float64 {
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	val := record()
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			for range 1000 {
				if err := b.Put(fmt.Appendf(nil, "w-%d-%08d", n%1024, n), val); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// replicated runs writers concurrent proposers against the leader of a
// fresh cluster for d and returns acknowledged writes per second.
func replicated(tempDir func() string, nodes, writers int, d time.Duration) (float64, error) {
	c, err := loopback.New(tempDir, loopback.RegisterKV)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, nodes); err != nil {
		return 0, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return 0, err
	}
	val := record()
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < d; i++ {
				if _, err := leader.ProposeOK(ctx, loopback.Put(fmt.Sprintf("w-%d-%08d", w, i), val)); err != nil {
					failed.Add(1)
					continue
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d writes failed", failed.Load())
	}
	return float64(acked.Load()) / time.Since(start).Seconds(), nil
}

// sealThroughput measures SM4-GCM record sealing on one goroutine, MB/s.
func sealThroughput(d time.Duration) float64 {
	k, err := keyring.New(keyring.NewMasterKey())
	if err != nil {
		log.Fatal(err)
	}
	k.Install(1, keyring.NewSecret())
	val := record()
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 1000 {
			if _, err := k.Seal(keyring.Records, []byte("kv/key"), val); err != nil {
				log.Fatal(err)
			}
		}
		n += 1000
	}
	return float64(n*recordSize) / time.Since(start).Seconds() / 1e6
}

func render(rows []row, raw, sealMBs float64, d time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Performance\n\n")
	fmt.Fprintf(&b, "Measured %s by `make bench` (`go run ./ops/bench`) on %s, %d cores (GOMAXPROCS %d), %s, %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), runtime.Version())
	fmt.Fprintf(&b, "Each configuration writes 1 KiB records for %s; the raw baseline runs in the same process just before.\n\n", d)
	fmt.Fprintf(&b, "| configuration | nodes | writers | records/s | vs raw |\n|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.0f%% |\n", r.what, r.nodes, r.writers, r.perSec, 100*r.perSec/raw)
	}
	fmt.Fprintf(&b, "\nGoals: 1 node at 1024 writers ≥ 50%% of raw; 3 nodes at 1024 writers ≥ 25%% of raw.\n\n")
	fmt.Fprintf(&b, "SM4-GCM sealing of 1 KiB records (keyring, one goroutine): %.0f MB/s.\n", sealMBs)
	return b.String()
}

func renderAPI(full, bare float64) string {
	if bare == 0 {
		return ""
	}
	return fmt.Sprintf("\n## API reads\n\nAuthenticated `GET /api/v1/me` (a linearizable account read), 64 concurrent clients over TLS, one node:\n\n"+
		"| stack | requests/s | vs bare |\n|---|---:|---:|\n"+
		"| TLS + session + handler (no OPA, no audit) | %.0f | 100%% |\n"+
		"| full: TLS + session + OPA + handler + audit record | %.0f | %.0f%% |\n\n"+
		"Goal: the full stack ≥ 50%% of the bare handler. The OPA decision alone: `go test -bench Decision ./policy` (median, goal ≤ 25 µs).\n",
		bare, full, 100*full/bare)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	total := node.MemTotal()
	if total == 0 {
		return "unknown memory"
	}
	return fmt.Sprintf("%.0f GiB RAM", float64(total)/(1<<30))
}
