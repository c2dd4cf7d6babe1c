package sim

import (
	"errors"
	"fmt"
	"slices"
)

// Fleet is a set of simulated providers started and stopped together.
type Fleet struct {
	servers []*Server
	byName  map[string]*Server
}

// StartFleet starts a server for every profile. Names must be unique; if any
// server fails to start, those already started are closed.
func StartFleet(ps []Profile, o Options) (*Fleet, error) {
	seen := make(map[string]int, len(ps))
	for i, p := range ps {
		if j, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("start simulated fleet: profiles %d and %d are both named %q; names must be unique", j, i, p.Name)
		}
		seen[p.Name] = i
	}
	f := &Fleet{byName: make(map[string]*Server, len(ps))}
	for _, p := range ps {
		s, err := Start(p, o)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("start simulated fleet: %w", err), f.Close())
		}
		f.servers = append(f.servers, s)
		f.byName[p.Name] = s
	}
	return f, nil
}

// Server finds a server by its provider name.
func (f *Fleet) Server(name string) (*Server, bool) {
	s, ok := f.byName[name]
	return s, ok
}

// Servers lists the servers in the order of their profiles.
func (f *Fleet) Servers() []*Server { return slices.Clone(f.servers) }

// Close closes every server and reports every failure. Each Close ends its
// own stalled streams, so one server cannot hold up the next.
func (f *Fleet) Close() error {
	var errs []error
	for _, s := range f.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
