// Command clientbench compares rueidis and go-redis running the same small Lua
// script (INCR a counter, XADD an entry, PUBLISH it: the shape of
// ssebridge's publish) from N concurrent goroutines against one local
// redis-server, and prints acknowledged calls per second. It is a module
// of its own, so that go-redis is not a dependency of ssebridge:
//
//	redis-server --port 16390 --save '' --appendonly yes &
//	cd scripts/clientbench && go run . -addr 127.0.0.1:16390 -d 3s
package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

const src = `
local pos = redis.call('HINCRBY', KEYS[1], 'head', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '1000', pos .. '-0', 'd', ARGV[1])
redis.call('PUBLISH', KEYS[3], pos .. '\n' .. ARGV[1])
return pos
`

func run(name string, n int, d time.Duration, call func(ctx context.Context) error) {
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := call(ctx); err == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("%-8s goroutines=%-3d %8.0f calls/s\n", name, n, float64(done.Load())/d.Seconds())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:16390", "redis-server")
	dur := flag.Duration("d", 5*time.Second, "duration of each run")
	flag.Parse()
	data := string(make([]byte, 256))
	keys := []string{"{b}:meta", "{b}:ts", "{b}:ch"}

	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true, PipelineMultiplex: -1})
	if err != nil {
		panic(err)
	}
	rs := rueidis.NewLuaScript(src)
	gc := goredis.NewClient(&goredis.Options{Addr: *addr, PoolSize: 64})
	gs := goredis.NewScript(src)
	for _, n := range []int{1, 4, 16, 64} {
		run("rueidis", n, *dur, func(ctx context.Context) error {
			return rs.Exec(ctx, rc, keys, []string{data}).Error()
		})
		run("go-redis", n, *dur, func(ctx context.Context) error {
			return gs.Run(ctx, gc, keys, data).Err()
		})
	}
}
