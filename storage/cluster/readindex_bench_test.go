package cluster_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"cxt/storage/cluster/loopback"
)

// BenchmarkReadBarrier measures one linearizable read round in a 3-node
// loopback cluster, through the leader and through a follower, with one
// and with 64 readers per core (rounds batch them).
//
//	go test ./storage/cluster -run '^$' -bench ReadBarrier -benchtime 3s
func BenchmarkReadBarrier(b *testing.B) {
	c, err := loopback.New(b.TempDir, loopback.RegisterKV)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Start(ctx, 3); err != nil {
		b.Fatal(err)
	}
	l, err := c.Leader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var f *loopback.Node
	for _, n := range c.Running() {
		if n != l {
			f = n
		}
	}
	for _, tc := range []struct {
		name string
		node *loopback.Node
	}{{"leader", l}, {"follower", f}} {
		for _, par := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/readers=%d", tc.name, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := tc.node.ReadBarrier(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
