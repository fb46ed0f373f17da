package api

import (
	"strings"
	"testing"

	"cxt/storage/state"
)

// backend is a Backend of the routes given.
type backend []Route

func (backend) Register(*state.Registry) {}
func (b backend) Routes() []Route        { return b }

func TestMountRefusesARouteThePipelineCannotServe(t *testing.T) {
	h := func(*Request) (int, any, error) { return 200, nil, nil }
	p := func(*Request) (*Op, error) { return nil, nil }
	for name, c := range map[string]struct {
		routes []Route
		want   string
	}{
		"a route without a kind": {[]Route{{Method: "GET", Path: "/a", Action: "a.read", Handle: h}}, "no kind"},
		"an important route with a handler": {[]Route{{Method: "POST", Path: "/a", Action: "a.do", Kind: Important, Handle: h, Prepare: p}},
			"important route has a Prepare and no Handle"},
		"an important route without Prepare": {[]Route{{Method: "POST", Path: "/a", Action: "a.do", Kind: Important}},
			"important route has a Prepare and no Handle"},
		"a read that prepares an operation": {[]Route{{Method: "GET", Path: "/a", Action: "a.read", Kind: Read, Prepare: p}},
			"a read route has a Handle and no Prepare"},
		"a route without an action": {[]Route{{Method: "GET", Path: "/a", Kind: Read, Handle: h}}, "needs a method, a path and an action"},
		"a path mounted twice": {[]Route{{Method: "GET", Path: "/a", Action: "a.read", Kind: Read, Handle: h},
			{Method: "GET", Path: "/a", Action: "a.other", Kind: Read, Handle: h}}, "mounted twice"},
		"a system route mounted again": {[]Route{{Method: "GET", Path: "/healthz", Action: "a.read", Kind: Read, Handle: h}}, "mounted twice"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, c.want) {
					t.Fatalf("Mount panicked with %q, want %q", msg, c.want)
				}
			}()
			(&Server{}).Mount(backend(c.routes))
		})
	}
	// The same method on another path, and another method on the same
	// path, are different routes.
	(&Server{}).Mount(backend{
		{Method: "GET", Path: "/a", Action: "a.read", Kind: Read, Handle: h},
		{Method: "POST", Path: "/a", Action: "a.do", Kind: Important, Prepare: p},
		{Method: "GET", Path: "/b", Action: "b.read", Kind: Write, Handle: h},
	})
}
