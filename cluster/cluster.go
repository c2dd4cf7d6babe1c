// Package cluster makes several replicas of a gateway one fleet through
// Redis (or Valkey): each replica shares what its monitor counts (tallies
// of outcomes per endpoint and bucket), the changes it makes to endpoints
// (breakers opened and closed, cooldowns after a 429, toggles by hand) and
// its sticky conversations, and takes in the others'; a half-open
// breaker's one trial is leased to one replica at a time.
//
// Nothing on a request's path waits on Redis: the monitor and the router
// work on their own state, and a Node carries the news between them and
// Redis in the background, a few times a second. When Redis is unreachable
// or slow (every call is bounded by Options.Timeout), the replica says so
// once in the log and in its snapshots, carries on with its own health as
// if alone, and rejoins when Redis answers again, sharing where it stands.
//
// The client is go-redis (github.com/redis/go-redis/v9): Redis's own Go
// client, kept by Redis, with context deadlines on every call, a pool, TLS
// and Pub/Sub, which is all this needs. rueidis is faster through
// pipelining and client-side caching, neither of which matters a few
// calls a second off the request path.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"switchboard/monitor"
)

// The defaults of Options.
const (
	DefaultPrefix    = "switchboard"
	DefaultTick      = 250 * time.Millisecond
	DefaultTimeout   = 500 * time.Millisecond
	DefaultLeaseTTL  = 3 * time.Second
	DefaultHeartbeat = time.Second
)

// Sticker learns the conversations other replicas sent somewhere
// (routing.Router is one).
type Sticker interface {
	Stick(model, conversation, endpoint string)
}

// Options configure a Node.
type Options struct {
	RedisURL  string // redis://host:port[/db] or rediss:// (TLS)
	Username  string // ACL user; "" for the default
	Password  string // never printed
	TLSCAFile string // PEM roots for rediss://; "" for the system's
	Prefix    string // starts every key and the channel; default DefaultPrefix
	Replica   string // this replica's name, unique in the fleet

	Monitor *monitor.Monitor // joined to the fleet by New
	// Accounts name the provider account behind each endpoint (by id): a
	// cooldown is shared only between replicas that call the endpoint with
	// the same account. Endpoints left out share theirs with all.
	Accounts map[string]string

	Tick      time.Duration // how often news goes out and leases are asked for; default DefaultTick
	Timeout   time.Duration // bounds every call to Redis; default DefaultTimeout
	LeaseTTL  time.Duration // how long a trial lease lasts unless renewed; default DefaultLeaseTTL
	Heartbeat time.Duration // how often a replica says it is alive; default DefaultHeartbeat
}

// Node is one replica's link to its fleet.
type Node struct {
	o       Options
	rdb     *redis.Client
	where   string // host:port of Redis, for messages
	mon     *monitor.Monitor
	wake    <-chan struct{}
	sticky  chan stickyNews
	sticker Sticker // nil: the fleet's conversations are not taken in (StickTo)

	subUp    atomic.Bool           // the subscription to the fleet's news is live
	subErr   atomic.Pointer[error] // why the subscription last broke
	subTried chan struct{}         // closed once the subscription was first tried
	linked   bool                  // owned by the syncer: the last round with Redis went through
	downAt   time.Time
	downErr  error // what first went wrong, since downAt
	beatAt   time.Time

	dropped     atomic.Int64 // sticky news dropped because the queue was full
	droppedSaid time.Time    // when that was last logged (owned by the syncer)
	heard       chan byte
	// instance tells this process from another under the same replica
	// name; twins counts the heartbeats running that replaced such a one's,
	// twinSaid that it was reported (owned by the syncer).
	instance string
	twins    int
	twinSaid bool
	logger   atomic.Pointer[slog.Logger]
	poke     chan struct{} // sticky news waits to go out
}

// stickyQueue bounds the sticky conversations waiting to go out: past it
// they are dropped (the router tells the fleet again later).
const stickyQueue = 4096

// New checks the options and joins the monitor to the fleet; Run links it.
func New(o Options) (*Node, error) {
	if o.Monitor == nil || o.Replica == "" {
		return nil, errors.New("cluster: a node needs a monitor and a replica name")
	}
	ro, err := redis.ParseURL(o.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis_url: %w", err)
	}
	if o.Username != "" {
		ro.Username = o.Username
	}
	if o.Password != "" {
		ro.Password = o.Password
	}
	if o.TLSCAFile != "" {
		if ro.TLSConfig == nil {
			return nil, errors.New("cluster: tls_ca_file is for a rediss:// address")
		}
		pem, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster: tls_ca_file %s holds no PEM certificate", o.TLSCAFile)
		}
		ro.TLSConfig = &tls.Config{RootCAs: pool, ServerName: ro.TLSConfig.ServerName, MinVersion: tls.VersionTLS12}
	}
	setDefault(&o.Prefix, DefaultPrefix)
	setDur(&o.Tick, DefaultTick)
	setDur(&o.Timeout, DefaultTimeout)
	setDur(&o.LeaseTTL, DefaultLeaseTTL)
	setDur(&o.Heartbeat, DefaultHeartbeat)
	// Every call is bounded, and none is retried: the next tick is the
	// retry, and a request never waits for one.
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	ro.ContextTimeoutEnabled, ro.MaxRetries = true, -1
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	n := &Node{o: o, rdb: redis.NewClient(ro), where: ro.Addr, mon: o.Monitor,
		sticky: make(chan stickyNews, stickyQueue), subTried: make(chan struct{}), heard: make(chan byte, 64), poke: make(chan struct{}, 1)}
	n.wake = o.Monitor.JoinFleet(o.Replica)
	var id [8]byte
	_, _ = rand.Read(id[:])
	n.instance = hex.EncodeToString(id[:])
	return n, nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func (n *Node) log() *slog.Logger {
	if l := n.logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// LogTo makes the node log to l rather than slog.Default().
func (n *Node) LogTo(l *slog.Logger) { n.logger.Store(l) }

// StickTo sets who learns the conversations other replicas sent somewhere
// (the router, made after the node: it tells the node its own); call it
// before Run. Without it, the fleet's conversations are not taken in.
func (n *Node) StickTo(s Sticker) { n.sticker = s }

// quiet keeps go-redis's own log lines (a reconnect, a pool timeout) out of
// the gateway's log: the node says once, in its own words, that Redis is
// gone and once that it is back.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// Run links the replica to the fleet until ctx ends, then leaves it and
// closes the client. It returns once everything it started has stopped.
func (n *Node) Run(ctx context.Context) {
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	var wg sync.WaitGroup
	wg.Go(func() { n.listen(ctx) })
	n.sync(ctx)
	wg.Wait()
	n.leave()
	_ = n.rdb.Close()
}

// leave takes this replica off the fleet's list at once, rather than when
// its heartbeat runs out.
func (n *Node) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), n.o.Timeout)
	defer cancel()
	n.rdb.ZRem(ctx, n.key("replicas"), n.o.Replica)
}

// key is a key (or the channel) of this fleet's in Redis.
func (n *Node) key(parts ...string) string {
	return n.o.Prefix + ":" + strings.Join(parts, ":")
}

// ShareSticky queues a conversation's endpoint for the fleet
// (routing.Options.ShareSticky). It never blocks: when the queue is full
// the news is dropped.
func (n *Node) ShareSticky(model, conversation, endpoint string) {
	select {
	case n.sticky <- stickyNews{Model: model, Conversation: conversation, Endpoint: endpoint}:
		select { // out now, not at the next tick: the conversation's next request may come at once, elsewhere
		case n.poke <- struct{}{}:
		default:
		}
	default:
		n.dropped.Add(1)
	}
}

type stickyNews struct {
	Model        string `json:"model"`
	Conversation string `json:"conversation"`
	Endpoint     string `json:"endpoint"`
}

// sharedChange is a monitor change as it travels, with the account behind
// the endpoint (see Options.Accounts).
type sharedChange struct {
	monitor.Change
	Account string `json:"account,omitzero"`
}

// The kinds of news on the channel: the first byte of a message, before
// the sender's name and a newline.
const (
	NewsTally  = 't' // a tally of outcomes
	NewsChange = 'c' // a change to an endpoint
	NewsSticky = 's' // a conversation's endpoint
)

// Heard receives the kind of each piece of news from another replica once
// it is taken in (NewsTally, NewsChange, NewsSticky), as long as it is
// read: news heard while nobody reads is not kept. For tests, and for
// anyone who waits on the fleet.
func (n *Node) Heard() <-chan byte { return n.heard }

func (n *Node) news(kind byte, payload []byte) []byte {
	b := make([]byte, 0, 2+len(n.o.Replica)+len(payload))
	b = append(append(append(b, kind), n.o.Replica...), '\n')
	return append(b, payload...)
}

// sync is the node's loop: news out, leases, heartbeats, until ctx ends.
func (n *Node) sync(ctx context.Context) {
	t := time.NewTicker(n.o.Tick)
	defer t.Stop()
	for {
		n.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		case <-n.poke:
		}
	}
}

// round is one exchange with Redis. Any failure unlinks the replica until
// a later round gets through.
func (n *Node) round(ctx context.Context) {
	if !n.linked {
		select { // the first time, the subscription's first try decides
		case <-n.subTried:
		case <-ctx.Done():
			return
		}
		// Whatever piled up while unlinked is dropped: Standing says
		// where this replica stands once it rejoins.
		n.mon.TakeChanges()
		n.mon.TakeTally()
		if err := n.join(ctx); err != nil {
			n.unlink(ctx, err)
			return
		}
	}
	if err := n.push(ctx); err != nil {
		n.unlink(ctx, err)
		return
	}
	if err := n.leases(ctx); err != nil {
		n.unlink(ctx, err)
		return
	}
	if now := time.Now(); now.Sub(n.beatAt) >= n.o.Heartbeat {
		if err := n.beat(ctx, now); err != nil {
			n.unlink(ctx, err)
			return
		}
		n.beatAt = now
	}
	if !n.subUp.Load() {
		n.unlink(ctx, n.subDown())
	}
}

// unlink says once that the fleet is out of reach, and leaves the monitor
// to itself.
func (n *Node) unlink(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // shutting down: not news
	}
	switch {
	case n.linked || n.downAt.IsZero():
		n.downAt, n.downErr = time.Now(), err
		n.log().Warn("cluster: Redis is out of reach; this replica carries on with its own health", "redis", n.where, "err", err)
	case timedOut(n.downErr) && !timedOut(err):
		// A slow dial or a busy Redis failed first; this one says why
		// it goes on (a certificate, a password), once.
		n.downErr = err
		n.log().Warn("cluster: Redis is still out of reach", "redis", n.where, "err", err)
	}
	n.linked, n.beatAt = false, time.Time{}
	// The first error says what happened (unless it only timed out);
	// later ones, only that it goes on.
	n.mon.SetFleet(monitor.FleetStatus{Linked: false,
		Detail: fmt.Sprintf("Redis at %s out of reach since %s (%v); figures and states are this replica's own", n.where, n.downAt.Format(time.TimeOnly), n.downErr)})
}

// timedOut reports whether err is a time limit running out, which says
// nothing of why.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// call bounds one exchange with Redis.
func (n *Node) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.o.Timeout)
}

// join links the replica: it takes in where the fleet stands (toggles,
// open breakers, cooldowns, sticky conversations) and tells the fleet
// where it stands itself.
func (n *Node) join(ctx context.Context) error {
	if !n.subUp.Load() {
		return n.subDown()
	}
	c, cancel := n.call(ctx)
	defer cancel()
	// Where the fleet stands is a hash each, a field per endpoint: read
	// whole, whatever else the keyspace holds.
	p := n.rdb.Pipeline()
	hashes := []*redis.MapStringStringCmd{p.HGetAll(c, n.key("toggles")), p.HGetAll(c, n.key("open")), p.HGetAll(c, n.key("cool"))}
	if _, err := p.Exec(c); err != nil {
		return err
	}
	now := time.Now()
	for _, h := range hashes {
		for _, v := range h.Val() {
			var ch sharedChange
			if json.Unmarshal([]byte(v), &ch) != nil || stale(ch, now) {
				continue
			}
			n.apply("the fleet", ch)
		}
	}
	if err := n.loadSticky(ctx); err != nil {
		// Not worth staying apart for: the conversations are told again
		// as they go on.
		n.log().Warn("cluster: the fleet's sticky conversations could not be read; they are learnt as they go on", "err", err)
	}
	own := n.mon.Standing()
	if err := n.share(ctx, own); err != nil {
		return err
	}
	if !n.downAt.IsZero() {
		n.log().Info("cluster: Redis answers again; this replica rejoined the fleet", "redis", n.where,
			"after", time.Since(n.downAt).Round(time.Millisecond).String())
	}
	n.linked, n.downAt = true, time.Time{}
	n.mon.SetFleet(monitor.FleetStatus{Linked: true})
	return nil
}

// staleOutage is how long after its backoff ended an open breaker Redis
// still holds is taken for one by a replica joining: an outage whose
// trial never reported (every replica gone meanwhile) is found again by
// the errors, if it goes on, rather than believed for ever.
const staleOutage = time.Minute

// stale reports whether a standing change Redis holds no longer says
// anything: a cooldown over, an outage long past its trial.
func stale(c sharedChange, now time.Time) bool {
	switch c.Kind {
	case monitor.ChangeCooldown:
		return !c.Until.After(now)
	case monitor.ChangeOpened:
		return now.Sub(c.Until) > staleOutage
	}
	return false
}

// scanLimit bounds the keys one scan reads: the fleet's standing is a few
// keys per endpoint, and sticky conversations are bounded by the routers.
const scanLimit = 200_000

// scan returns the values of the keys matching pattern.
func (n *Node) scan(ctx context.Context, pattern string) ([]string, error) {
	var keys []string
	it := n.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for it.Next(ctx) && len(keys) < scanLimit {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	var vals []string
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		vs, err := n.rdb.MGet(ctx, batch...).Result()
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if s, ok := v.(string); ok { // a key gone since the scan is nil
				vals = append(vals, s)
			}
		}
	}
	return vals, nil
}

// loadSticky takes in the fleet's sticky conversations.
func (n *Node) loadSticky(ctx context.Context) error {
	if n.sticker == nil {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, 10*n.o.Timeout) // a longer scan
	defer cancel()
	vals, err := n.scan(c, n.key("sticky", "*"))
	if err != nil {
		return err
	}
	for _, v := range vals {
		var s stickyNews
		if json.Unmarshal([]byte(v), &s) == nil {
			n.sticker.Stick(s.Model, s.Conversation, s.Endpoint)
		}
	}
	return nil
}

// push sends what the monitor counted and changed since the last round,
// and the sticky conversations queued.
func (n *Node) push(ctx context.Context) error {
	if d := n.dropped.Load(); d > 0 && time.Since(n.droppedSaid) >= time.Minute {
		n.dropped.Add(-d)
		n.droppedSaid = time.Now()
		n.log().Warn("cluster: sticky conversations not told to the fleet: more came than a round carries", "dropped", d)
	}
	changes := n.mon.TakeChanges()
	tally := n.mon.TakeTally()
	var stickies []stickyNews
queued:
	for len(stickies) < stickyQueue {
		select {
		case s := <-n.sticky:
			stickies = append(stickies, s)
		default:
			break queued
		}
	}
	if len(changes) == 0 && tally == nil && len(stickies) == 0 {
		return nil
	}
	c, cancel := n.call(ctx)
	defer cancel()
	p := n.rdb.Pipeline()
	ch := n.key("news")
	if tally != nil {
		p.Publish(c, ch, n.news(NewsTally, tally))
	}
	n.queueChanges(c, p, changes)
	for _, s := range stickies {
		b, _ := json.Marshal(s)
		p.Publish(c, ch, n.news(NewsSticky, b))
		p.Set(c, n.key("sticky", s.Model, s.Conversation), b, stickyTTL)
	}
	_, err := p.Exec(c)
	return err
}

// stickyTTL is how long Redis keeps a conversation's endpoint for replicas
// that join later: as long as a router does (routing.StickyIdle, 10
// minutes).
const stickyTTL = 10 * time.Minute

// share sends changes (the monitor's, or its standing) to the fleet.
func (n *Node) share(ctx context.Context, changes []monitor.Change) error {
	if len(changes) == 0 {
		return nil
	}
	c, cancel := n.call(ctx)
	defer cancel()
	p := n.rdb.Pipeline()
	n.queueChanges(c, p, changes)
	_, err := p.Exec(c)
	return err
}

// queueChanges publishes changes on p and keeps where they leave an
// endpoint, a field per endpoint of a hash per kind, for replicas that
// join later.
func (n *Node) queueChanges(ctx context.Context, p redis.Pipeliner, changes []monitor.Change) {
	for _, c := range changes {
		sc := sharedChange{Change: c, Account: n.o.Accounts[c.Endpoint]}
		if sc.Origin == "" {
			sc.Origin = n.o.Replica
		}
		b, _ := json.Marshal(sc)
		p.Publish(ctx, n.key("news"), n.news(NewsChange, b))
		switch c.Kind {
		case monitor.ChangeOpened:
			p.HSet(ctx, n.key("open"), c.Endpoint, b)
		case monitor.ChangeClosed:
			p.HDel(ctx, n.key("open"), c.Endpoint)
		case monitor.ChangeCooldown:
			p.HSet(ctx, n.key("cool"), sc.Account+":"+c.Endpoint, b)
		case monitor.ChangeToggled:
			newerToggle.Eval(ctx, p, []string{n.key("toggles")}, c.Endpoint, b, c.At.UnixNano())
		}
	}
}

// The scripts that make a lease's and a toggle's compare-and-set atomic.
var (
	// takeLease takes the lease KEYS[1] for ARGV[1] for ARGV[2]
	// milliseconds if it is free, or renews it if ARGV[1] holds it: 1 if
	// ARGV[1] holds it now.
	takeLease = redis.NewScript(`
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
return 0`)
	// newerToggle sets field ARGV[1] of hash KEYS[1] to ARGV[2] unless it
	// holds a toggle made later than ARGV[3] (Unix nanoseconds).
	newerToggle = redis.NewScript(`
local old = redis.call('hget', KEYS[1], ARGV[1])
if old then
  local ok, t = pcall(cjson.decode, old)
  if ok and t.at_ns and tonumber(t.at_ns) > tonumber(ARGV[3]) then return 0 end
end
local t = cjson.decode(ARGV[2])
t.at_ns = ARGV[3]
redis.call('hset', KEYS[1], ARGV[1], cjson.encode(t))
return 1`)
)

// leases asks the fleet for the trials this replica's breakers would let
// go, and keeps the leases of the trials it sent.
func (n *Node) leases(ctx context.Context) error {
	want := n.mon.WantTrials()
	out := n.mon.TrialsOut()
	if len(want) == 0 && len(out) == 0 {
		return nil
	}
	c, cancel := n.call(ctx)
	defer cancel()
	ttl := n.o.LeaseTTL.Milliseconds()
	trials := append(want, out...)
	cmds := make([]*redis.Cmd, len(trials))
	p := n.rdb.Pipeline()
	start := time.Now()
	for i, t := range trials {
		// A lease is never given back: it runs out. The next trial is
		// another round's, under another key.
		cmds[i] = takeLease.Eval(c, p, []string{n.key("trial", t.Endpoint, fmt.Sprint(t.Round))}, n.o.Replica, ttl)
	}
	if _, err := p.Exec(c); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	// The lease is counted from before it was asked for, less a margin for
	// clocks that differ: this replica gives it up before Redis does.
	until := start.Add(n.o.LeaseTTL - n.o.LeaseTTL/4)
	for i, t := range trials {
		if v, err := cmds[i].Int(); err == nil && v == 1 {
			n.mon.GrantTrial(t, until)
		}
	}
	return nil
}

// beat tells the fleet this replica is alive, with its own figures, and
// reads the others'.
func (n *Node) beat(ctx context.Context, now time.Time) error {
	requests, avail := n.mon.OwnFigures()
	me, _ := json.Marshal(beatInfo{ReplicaStatus: monitor.ReplicaStatus{Name: n.o.Replica, Seen: now, Requests: requests,
		Availability: avail}, Instance: n.instance})
	c, cancel := n.call(ctx)
	defer cancel()
	alive := now.Add(-3 * n.o.Heartbeat)
	p := n.rdb.Pipeline()
	p.ZAdd(c, n.key("replicas"), redis.Z{Score: float64(now.UnixMilli()), Member: n.o.Replica})
	last := p.SetArgs(c, n.key("replica", n.o.Replica), me, redis.SetArgs{TTL: 3 * n.o.Heartbeat, Get: true})
	p.ZRemRangeByScore(c, n.key("replicas"), "-inf", fmt.Sprint(alive.Add(-time.Minute).UnixMilli()))
	names := p.ZRangeByScore(c, n.key("replicas"), &redis.ZRangeBy{Min: fmt.Sprint(alive.UnixMilli()), Max: "+inf"})
	if _, err := p.Exec(c); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	n.checkName(last.Val())
	var keys []string
	for _, name := range names.Val() {
		keys = append(keys, n.key("replica", name))
	}
	var replicas []monitor.ReplicaStatus
	if len(keys) > 0 {
		vals, err := n.rdb.MGet(c, keys...).Result()
		if err != nil {
			return err
		}
		for _, v := range vals {
			var r monitor.ReplicaStatus
			if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &r) == nil {
				replicas = append(replicas, r)
			}
		}
	}
	n.mon.SetFleet(monitor.FleetStatus{Linked: true, Replicas: replicas})
	return nil
}

// beatInfo is a replica's heartbeat as Redis keeps it: its status, and
// which process it is, to tell two replicas given one name apart.
type beatInfo struct {
	monitor.ReplicaStatus
	Instance string `json:"instance"`
}

// checkName says once if the heartbeats this one replaced were another
// live process's under the same name, twice running (once is a replica
// restarted within a heartbeat's life): replicas named alike take each
// other's news for their own, and share nothing.
func (n *Node) checkName(last string) {
	var b beatInfo
	if last == "" || json.Unmarshal([]byte(last), &b) != nil || b.Instance == "" || b.Instance == n.instance {
		n.twins = 0
		return
	}
	if n.twins++; n.twins >= 2 && !n.twinSaid {
		n.twinSaid = true
		n.log().Error("cluster: another replica has this replica's name; each replica needs its own (set replica in [cluster], or leave it out for the host name and process id), or they share nothing",
			"replica", n.o.Replica)
	}
}

// listen takes in the fleet's news until ctx ends, subscribing again
// whenever the subscription breaks.
func (n *Node) listen(ctx context.Context) {
	for first := true; ctx.Err() == nil; first = false {
		n.subscribe(ctx, first)
		n.subUp.Store(false)
		t := time.NewTimer(n.o.Tick)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// subDown says why the subscription to the fleet's news is not up.
func (n *Node) subDown() error {
	if err := n.subErr.Load(); err != nil {
		return fmt.Errorf("the fleet's news stopped: %w", *err)
	}
	return errors.New("not yet subscribed to the fleet's news")
}

// subscribe reads the news until the subscription breaks or ctx ends. A
// quiet subscription is pinged, so that a Redis that hangs is found out.
func (n *Node) subscribe(ctx context.Context, first bool) {
	var err error
	defer func() {
		if err != nil {
			n.subErr.Store(&err)
		}
	}()
	ps := n.rdb.Subscribe(ctx)
	defer ps.Close()
	// A read in progress does not see ctx end: closing the subscription
	// ends it at once.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	c, cancel := n.call(ctx)
	err = ps.Subscribe(c, n.key("news"))
	if err == nil {
		_, err = ps.ReceiveTimeout(c, n.o.Timeout) // the confirmation
	}
	cancel()
	if err != nil {
		n.subErr.Store(&err) // before the first round reads it
	}
	n.subUp.Store(err == nil)
	if first {
		close(n.subTried)
	}
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		var msg any
		msg, err = ps.ReceiveTimeout(ctx, 4*n.o.Heartbeat)
		var ne interface{ Timeout() bool }
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c, cancel := n.call(ctx)
			err = ps.Ping(c)
			cancel()
			if err != nil {
				return
			}
			continue
		case err != nil:
			return
		}
		if m, ok := msg.(*redis.Message); ok {
			n.take([]byte(m.Payload))
		}
	}
}

// take acts on one piece of news from another replica.
func (n *Node) take(b []byte) {
	if len(b) < 2 {
		return
	}
	kind := b[0]
	from, payload, ok := strings.Cut(string(b[1:]), "\n")
	if !ok || from == n.o.Replica {
		return
	}
	switch kind {
	case NewsTally:
		if err := n.mon.MergeTally([]byte(payload)); err != nil {
			n.log().Warn("cluster: a tally from another replica could not be read", "replica", from, "err", err)
		}
	case NewsChange:
		var c sharedChange
		if json.Unmarshal([]byte(payload), &c) == nil {
			n.apply(from, c)
		}
	case NewsSticky:
		var s stickyNews
		if n.sticker != nil && json.Unmarshal([]byte(payload), &s) == nil {
			n.sticker.Stick(s.Model, s.Conversation, s.Endpoint)
		}
	}
	select {
	case n.heard <- kind:
	default:
	}
}

// apply makes a change from elsewhere here: a cooldown only where the
// account is the same.
func (n *Node) apply(from string, c sharedChange) {
	if c.Kind == monitor.ChangeCooldown && c.Account != n.o.Accounts[c.Endpoint] {
		return
	}
	n.mon.Apply(from, c.Change)
}
