// Package ui is Switchboard's terminal dashboard: the health of every
// provider of a model, live, and a console that routes prompts through the
// router and shows how each one was routed.
//
// Health snapshots reach the model through a command that waits on the
// monitor's subscription and is re-armed after each one; Update only stores
// state; the sparklines, the costly part of a frame, are redrawn on a render
// tick; View composes cached drawings and cheap text.
package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"switchboard/monitor"
	"switchboard/routing"
)

// Health is what the dashboard needs of the monitor. *monitor.Monitor
// satisfies it.
type Health interface {
	Snapshot() *monitor.Snapshot
	Subscribe(ctx context.Context) <-chan *monitor.Snapshot
	SetEnabled(id string, on bool) error
	// Minutes is the last 30 minutes of one endpoint, for the detail chart.
	Minutes(id string) []monitor.MinutePoint
}

// Router is what the dashboard asks of the router: the models and their
// endpoints, provider names resolved as a request's would be, and a prompt
// sent. *routing.Router is one.
type Router interface {
	Models() []string
	Endpoints(model string) []routing.Endpoint
	Canonical(name string) string
	ResolveProviders(models []string, p routing.Preferences) (routing.Preferences, error)
	Send(ctx context.Context, req routing.Request, onDelta routing.OnDelta) (*routing.Result, error)
}

// Faults forces faults on simulated providers. It is nil when no provider
// is simulated.
type Faults interface {
	// Modes lists the modes in the order the dashboard cycles through
	// them, normal first: normal, down, slow, slow_start, rate_limited,
	// rate_limited_short, stall, silent_close, cut, stream_error, malformed,
	// no_prefill.
	Modes() []string
	// Mode returns the provider's forced mode, and whether the provider is
	// simulated at all.
	Mode(provider string) (string, bool)
	// SetMode forces a mode on a simulated provider.
	SetMode(provider, mode string) error
}

// Options are what the dashboard shows and drives.
type Options struct {
	Health  Health
	Router  Router
	Faults  Faults            // nil when no provider is simulated
	Display map[string]string // model name -> display name; missing names show as is
	Now     func() time.Time  // default time.Now; tests inject a clock
	Notice  string            // a problem to show at start, e.g. why history is off
	API     string            // where the HTTP API listens, e.g. "127.0.0.1:8788"; "" for none
	// Traces brings the decision traces of requests routed outside the
	// console (through the API, or sent by the demo traffic), for the event
	// log (their fallbacks and hedges); nil for none.
	Traces <-chan Routed
	// Logs brings what the process logs while the dashboard has the screen
	// (net/http's complaints, such as an upstream's stray bytes), one line
	// each, secrets removed, for the event log; nil for none.
	Logs <-chan string
	// Model is the model shown first (config's default_model); "" or a
	// name the router does not serve shows the first.
	Model string
	// Simulated says every provider is simulated: the console says its
	// answers are sample text.
	Simulated bool
	// Demo is the background demo traffic; nil when there is none to
	// offer.
	Demo Demo
}

// Routed is the decision trace of a request routed outside the console,
// and where it came from, as the event log names it ("API", "demo").
type Routed struct {
	Trace *routing.Trace
	Via   string
}

// Demo is background demo traffic: a steady trickle of prompts through the
// router, so that the figures, the routed-vs-best line, fallbacks and the
// event log move without anyone typing. Its methods are safe to call from
// any goroutine.
type Demo interface {
	On() bool         // whether it is sending now
	SetOn(on bool)    // starts or stops it
	Rate() float64    // prompts per second while on
	Sent() (n uint64) // prompts sent so far
}

// The smallest terminal the dashboard draws in.
const (
	minWidth  = 60
	minHeight = 15
)

// programContext is what every component shares: the size of the screen,
// the styles, the keys and the clock (gh-dash's ProgramContext).
type programContext struct {
	width, height int
	styles        *styles
	keys          keyMap
	now           func() time.Time
	faults        bool // fault injection is available
	simulated     bool // every provider is simulated
}

// focus is which part of the dashboard has the keys.
type focus int

const (
	focusProviders focus = iota
	focusConsole
)

// model is the root of the dashboard.
type model struct {
	ctx    *programContext
	opts   Options
	run    context.Context // ends when the dashboard quits or its parent ends
	stop   context.CancelFunc
	models []string
	cur    int // index of the selected model

	snaps   <-chan *monitor.Snapshot
	snap    *monitor.Snapshot
	feedEnd bool // the subscription closed

	providers *providersPane
	console   *console
	events    *eventsPane // beside the console on wide terminals; width 0 when hidden
	detail    *detailPane // the selected provider's last 30 minutes, on tall terminals
	help      help.Model
	focus     focus
	replicas  bool // in a fleet, its replicas show under its line (r)

	notice    string // one-line message in place of the help, until the next key
	noticeBad bool

	faults *faultForcer

	// Toggles run in commands, which Bubble Tea may run in any order; a
	// sequence number lets only the latest wish win.
	seq    uint64
	latest *latestWins

	// The composed frame. Bubble Tea asks for the view after every message;
	// most messages (snapshots, ticks with nothing new) change nothing on
	// screen until the next tick, so the frame is kept until something does.
	frame   tea.View
	frameOK bool
	frameAt time.Time // when it was composed; the header's clock shows seconds
	dataAt  time.Time // when health figures last reached the screen

	// Where each part is drawn and clicked, computed on resize.
	screen screenLayout
}

// New returns the dashboard's root model. It subscribes to health snapshots
// until ctx ends or the user quits; run it with tea.NewProgram(ui.New(ctx, o)).Run().
func New(ctx context.Context, o Options) tea.Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	pc := &programContext{
		styles:    newStyles(true),
		keys:      newKeyMap(o.Faults != nil, o.Demo != nil),
		now:       o.Now,
		faults:    o.Faults != nil,
		simulated: o.Simulated,
	}
	run, stop := context.WithCancel(ctx)
	m := &model{
		ctx: pc, opts: o, run: run, stop: stop,
		providers: newProvidersPane(pc),
		console:   newConsole(pc),
		events:    &eventsPane{ctx: pc},
		detail:    &detailPane{ctx: pc},
		help:      help.New(),
		latest:    &latestWins{applied: map[string]uint64{}},
	}
	m.help.Styles = pc.styles.help
	if o.Router != nil {
		m.models = o.Router.Models()
	}
	if o.Health != nil {
		m.snap = o.Health.Snapshot()
		m.providers.setSnapshot(m.snap)
		pc.keys.Replicas.SetEnabled(m.fleet() != nil)
		m.snaps = o.Health.Subscribe(run)
	}
	m.faults = newFaultForcer(o.Faults, m.allProviders(), o.Now())
	m.providers.faults = m.faults
	m.selectModel(max(0, slices.Index(m.models, o.Model)))
	if o.Notice != "" {
		m.flash(o.Notice, true)
	} else if m.snap != nil && m.snap.HistoryError != "" {
		m.flash(m.snap.HistoryError, true)
	}
	return m
}

// Init starts the snapshot feed and the render tick, and asks the terminal
// for its background so the palette can fit it.
func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{renderTick(), tea.RequestBackgroundColor}
	if m.snaps != nil {
		cmds = append(cmds, waitForSnapshot(m.snaps))
	}
	if m.opts.Traces != nil {
		cmds = append(cmds, waitFor(m.run, m.opts.Traces, traced))
	}
	if m.opts.Logs != nil {
		cmds = append(cmds, waitFor(m.run, m.opts.Logs, logged))
	}
	return tea.Batch(cmds...)
}

// Update stores what each message says; costly drawing waits for the tick.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case snapshotMsg, renderTickMsg: // the tick decides
	default:
		m.frameOK = false
	}
	return m.update(msg)
}

func (m *model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.ctx.width, m.ctx.height = msg.Width, msg.Height
		m.layout()

	case tea.BackgroundColorMsg:
		m.ctx.styles = newStyles(msg.IsDark())
		m.help.Styles = m.ctx.styles.help
		m.console.setStyles()
		m.providers.dirty = true

	case snapshotMsg:
		m.setSnapshot(msg.snap)
		return m, waitForSnapshot(m.snaps)

	case snapshotsClosedMsg:
		m.feedEnd = true

	case renderTickMsg:
		now := m.ctx.now()
		// Timed from the figures' own last showing, not the last frame:
		// keys and a streaming answer compose frames all the time.
		fresh := m.providers.dirty && now.Sub(m.dataAt) >= dataEvery
		if fresh {
			m.providers.redraw()
			m.dataAt = now
		}
		if fresh || m.console.busy() || now.Unix() != m.frameAt.Unix() {
			m.frameOK = false
		}
		if e, ok := m.providers.selected(); ok && m.opts.Health != nil && m.detail.due(e.ID, now) {
			if m.detail.redraw(e.ID, m.opts.Health.Minutes(e.ID), now) {
				m.frameOK = false
			}
		}
		return m, tea.Batch(renderTick(), m.faults.refetch(now))

	case enabledMsg:
		if msg.err != nil {
			if want, ok := m.providers.wantEnabled[msg.id]; ok && want == msg.on {
				delete(m.providers.wantEnabled, msg.id)
			}
			m.flash(fmt.Sprintf("could not turn %s %s: %v", msg.id, onOff(msg.on), msg.err), true)
		}
		m.setSnapshot(msg.snap)

	case faultModesMsg:
		if m.faults.read(msg) {
			m.providers.relayout() // the fault column shows only for simulated providers
		}

	case faultSetMsg:
		cmd, bad := m.faults.set(msg, m.ctx.now())
		if bad != "" {
			m.flash(bad, true)
		}
		return m, cmd

	case tracedMsg:
		m.events.addTrace(msg.Trace, m.ctx.now(), msg.Via)
		return m, waitFor(m.run, m.opts.Traces, traced)

	case loggedMsg:
		m.events.addLog(msg.line, m.ctx.now())
		return m, waitFor(m.run, m.opts.Logs, logged)

	case streamMsg:
		if msg.done && msg.res != nil && m.console.ex.req != nil && msg.id == m.console.ex.req.id {
			m.events.addTrace(msg.res.Trace, m.ctx.now(), "")
		}
		return m, m.console.stream(msg)

	case tea.KeyPressMsg:
		return m, m.handleKey(msg)

	case tea.MouseClickMsg:
		return m, m.click(msg.Mouse())

	case tea.MouseWheelMsg:
		m.wheel(msg.Mouse())

	default:
		if m.focus == focusConsole { // paste, and the like
			var cmd tea.Cmd
			m.console.input, cmd = m.console.input.Update(msg)
			return m, cmd
		}
	}
	return m, nil
}

// handleKey routes a key: ctrl+c always quits; while the console has focus
// every other key is the console's; otherwise the dashboard's keys apply.
func (m *model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.keys
	m.notice = ""
	if key.Matches(msg, k.ForceQuit) {
		return m.quit()
	}
	if m.focus == focusConsole {
		return m.consoleKey(msg)
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.layout()
	case key.Matches(msg, k.Up):
		m.providers.move(-1)
	case key.Matches(msg, k.Down):
		m.providers.move(1)
	case key.Matches(msg, k.Toggle):
		return m.toggle()
	case key.Matches(msg, k.NextModel):
		m.selectModel(m.cur + 1)
	case key.Matches(msg, k.PrevModel):
		m.selectModel(m.cur - 1)
	case key.Matches(msg, k.Fault):
		return m.cycleFault()
	case key.Matches(msg, k.Demo):
		m.toggleDemo()
	case key.Matches(msg, k.Replicas):
		m.replicas = !m.replicas
		m.layout()
	case key.Matches(msg, k.Focus):
		return m.focusConsole()
	case key.Matches(msg, k.ScrollUp), key.Matches(msg, k.ScrollDown):
		m.console.scroll(key.Matches(msg, k.ScrollDown))
	case key.Matches(msg, k.Leave):
		m.console.cancel()
	}
	return nil
}

func (m *model) consoleKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.keys
	if m.console.helpKey(msg) {
		if !m.console.help {
			m.layout() // closed: an idle console gives its rows back
		}
		return nil
	}
	switch {
	case msg.String() == "tab" || msg.String() == "shift+tab":
		m.focusProviders() // focus moves on; a request in flight goes on
		return nil
	case key.Matches(msg, k.Leave):
		m.console.cancel()
		m.focusProviders()
		return nil
	case key.Matches(msg, k.Send):
		if len(m.models) == 0 {
			m.flash("no model to ask: the router serves none", true)
			return nil
		}
		if line := strings.TrimSpace(m.console.input.Value()); strings.HasPrefix(line, "/") {
			said, err := m.console.command(line, m.opts.Router, m.models[m.cur])
			m.console.remember(line)
			m.console.input.Reset()
			if err != nil {
				m.flash(err.Error(), true)
			} else {
				m.flash(said, false)
			}
			m.layout() // an open help list takes the console's room
			return nil
		}
		cmd, refused := m.console.submit(m.run, m.opts.Router, m.models[m.cur])
		if refused != "" {
			m.flash(refused, true)
		}
		m.layout() // an answer takes the room an idle console leaves to the detail chart
		return cmd
	case msg.String() == "up" || msg.String() == "down":
		m.console.recall(msg.String() == "up")
		return nil
	case key.Matches(msg, k.ScrollUp), key.Matches(msg, k.ScrollDown):
		m.console.scroll(key.Matches(msg, k.ScrollDown))
		return nil
	}
	var cmd tea.Cmd
	m.console.input, cmd = m.console.input.Update(msg)
	return cmd
}

func (m *model) quit() tea.Cmd {
	m.console.cancel()
	m.stop() // ends the subscription and anything else started under run
	return tea.Quit
}

func (m *model) flash(s string, bad bool) { m.notice, m.noticeBad = s, bad }

// setSnapshot keeps s if it is newer than the one shown: snapshots come
// both from the subscription and after a toggle, in no set order.
func (m *model) setSnapshot(s *monitor.Snapshot) {
	if s == nil {
		return
	}
	if cur := m.snap; cur != nil && (s.Version < cur.Version || (s.Version == cur.Version && !s.At.After(cur.At))) {
		return
	}
	if s.HistoryError != "" && (m.snap == nil || m.snap.HistoryError == "") {
		m.flash(s.HistoryError, true) // history failed during the run: say so once
	}
	m.snap = s
	m.providers.setSnapshot(s)
	// Joining a fleet, or a replica more or less in it, moves the panes:
	// at once, as a key would.
	if inFleet := s.Fleet != nil; inFleet != m.ctx.keys.Replicas.Enabled() || m.fleetHeight() != m.screen.fleet.h {
		m.ctx.keys.Replicas.SetEnabled(inFleet)
		m.layout()
		m.frameOK = false
	}
}

// selectModel shows model i (wrapping around).
func (m *model) selectModel(i int) {
	if len(m.models) == 0 {
		return
	}
	m.cur = (i%len(m.models) + len(m.models)) % len(m.models)
	m.events.follow() // another model, other events
	m.providers.setEndpoints(m.opts.Router.Endpoints(m.models[m.cur]))
	if m.focus == focusConsole {
		m.console.focus(m.displayName())
	} else {
		m.console.blur(m.displayName())
	}
	m.layout()
}

func (m *model) displayName() string {
	if len(m.models) == 0 {
		return "no model"
	}
	name := m.models[m.cur]
	if d, ok := m.opts.Display[name]; ok && d != "" {
		return d
	}
	return name
}

// toggle turns the selected endpoint off or on. The row changes at once;
// the monitor is told in a command.
func (m *model) toggle() tea.Cmd {
	e, ok := m.providers.selected()
	if !ok || m.opts.Health == nil {
		return nil
	}
	on := !m.providers.enabled(e.ID)
	m.providers.wantEnabled[e.ID] = on
	m.providers.dirty = true
	if on {
		m.flash(e.Provider+" is back on for routing", false)
	} else {
		m.flash(e.Provider+" is off: the router skips it until you turn it back on", false)
	}
	m.seq++
	seq, h, latest := m.seq, m.opts.Health, m.latest
	return func() tea.Msg {
		var err error
		if !latest.do("enabled/"+e.ID, seq, func() { err = h.SetEnabled(e.ID, on) }) {
			return nil // a later toggle already went through
		}
		return enabledMsg{id: e.ID, on: on, snap: h.Snapshot(), err: err}
	}
}

// cycleFault forces the next fault mode on the selected provider.
func (m *model) cycleFault() tea.Cmd {
	e, ok := m.providers.selected()
	if !ok {
		return nil
	}
	cmd, notice, bad := m.faults.cycle(e.Provider)
	if notice != "" {
		m.flash(notice, bad)
	}
	return cmd
}

// toggleDemo starts or stops the demo traffic; the header shows it.
func (m *model) toggleDemo() {
	if m.opts.Demo == nil {
		return
	}
	on := !m.opts.Demo.On()
	m.opts.Demo.SetOn(on)
	m.flash("demo traffic "+onOff(on), false)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// allProviders lists the providers of every model, once each.
func (m *model) allProviders() []string {
	var ps []string
	if m.opts.Router == nil {
		return nil
	}
	for _, model := range m.models {
		for _, e := range m.opts.Router.Endpoints(model) {
			if !slices.Contains(ps, e.Provider) {
				ps = append(ps, e.Provider)
			}
		}
	}
	return ps
}

// layout sizes the panes for the terminal (see planLayout).
func (m *model) layout() {
	w, h := m.ctx.width, m.ctx.height
	m.help.SetWidth(w)
	l := planLayout(layoutInput{width: w, height: h, endpoints: len(m.providers.endpoints), helpHeight: m.footerHeight(),
		fleet: m.fleetHeight(), consoleIdle: m.console.ex.phase == phaseIdle && !m.console.help})
	m.screen = l
	m.providers.setSize(w, l.rows.h)
	m.detail.width, m.detail.height = 0, l.detail.h
	if l.detail.h > 0 {
		m.detail.width = w
	}
	m.events.width, m.events.height = l.events.w, l.events.h
	m.console.setSize(l.console.w, l.console.h)
}

// click selects the provider row under the pointer, or focuses the pane
// it is in.
func (m *model) click(ev tea.Mouse) tea.Cmd {
	if ev.Button != tea.MouseLeft {
		return nil
	}
	l := m.screen
	switch {
	case l.rows.contains(ev.X, ev.Y):
		m.providers.move(m.providers.offset + ev.Y - l.rows.y - m.providers.cursor)
		if m.focus == focusConsole {
			m.focusProviders()
		}
	case l.console.contains(ev.X, ev.Y) && m.focus != focusConsole && len(m.models) > 0:
		return m.focusConsole()
	}
	return nil
}

// wheel moves the selection over the providers, scrolls the answer over
// the console and the log over the event log.
func (m *model) wheel(ev tea.Mouse) {
	down := ev.Button == tea.MouseWheelDown
	if ev.Button != tea.MouseWheelUp && !down {
		return
	}
	switch l := m.screen; {
	case l.events.contains(ev.X, ev.Y):
		m.events.scroll(down, len(m.events.entries(m.snap, m.providers.endpoints)))
		return
	case l.console.contains(ev.X, ev.Y):
		m.console.scroll(down)
		return
	}
	if down {
		m.providers.move(1)
	} else {
		m.providers.move(-1)
	}
}

// hourlyView is the selected provider's last 24 hours, one cell an hour.
func (m *model) hourlyView() string {
	st := m.ctx.styles
	e, ok := m.providers.selected()
	if !ok || m.snap == nil {
		return ""
	}
	s, found := m.snap.Endpoint(e.ID)
	if !found {
		return ""
	}
	line := st.muted.Render("24h ") + hourlyBars(st, s.Series.Hourly) +
		st.muted.Render(fmt.Sprintf("  %s, hour by hour · 1d %s · 30m %s", e.Provider, fmtPct(s.Availability1d), fmtPct(s.Availability30m)))
	return clip(line, m.ctx.width)
}

// focusConsole gives the keys to the console's prompt.
func (m *model) focusConsole() tea.Cmd {
	m.focus = focusConsole
	m.layout()
	return m.console.focus(m.displayName())
}

// focusProviders gives the keys to the providers table.
func (m *model) focusProviders() {
	m.console.blur(m.displayName())
	m.focus = focusProviders
	m.layout()
}

func (m *model) footerHeight() int {
	if !m.help.ShowAll {
		return 1
	}
	return lipgloss.Height(m.help.View(m.helpKeys()))
}

func (m *model) helpKeys() bindingHelp {
	if m.focus == focusConsole {
		return m.ctx.keys.consoleHelp()
	}
	return m.ctx.keys.dashboardHelp()
}

// View returns the frame, composing it anew only when something shown has
// changed since.
func (m *model) View() tea.View {
	if !m.frameOK {
		m.frame, m.frameOK, m.frameAt = m.compose(), true, m.ctx.now()
	}
	return m.frame
}

// compose lays the frame out from cached drawings and cheap text.
func (m *model) compose() tea.View {
	v := tea.NewView("")
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "Switchboard"
	w, h := m.ctx.width, m.ctx.height
	if w <= 0 || h <= 0 {
		return v // no size yet
	}
	if w < minWidth || h < minHeight {
		msg := fmt.Sprintf("terminal too small (need %dx%d, have %dx%d)", minWidth, minHeight, w, h)
		msg = m.ctx.styles.tooSmall.Render(lipgloss.Wrap(msg, w, " "))
		v.SetContent(fitBlock(lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, msg), w, h))
		return v
	}

	now := m.ctx.now()
	l := m.screen
	// Each part is fitted to its rectangle, so that what is drawn is where
	// the mouse finds it.
	var parts []string
	add := func(r rect, text string) {
		if r.h > 0 {
			parts = append(parts, fitBlock(text, r.w, r.h))
		}
	}
	add(l.header, m.headerView(now))
	add(l.fleet, m.fleetView())
	add(l.providers, rule(m.ctx.styles, "Providers", m.providersSummary(), w)+"\n"+m.providers.view())
	add(l.hourly, m.hourlyView())
	if l.detail.h > 0 {
		e, _ := m.providers.selected()
		add(l.detail, m.detail.view(e.Provider, m.snap))
	}
	switch {
	case l.events.h > 0 && l.events.y == l.console.y: // beside
		add(rect{0, l.console.y, w, l.console.h}, lipgloss.JoinHorizontal(lipgloss.Top,
			fitBlock(m.console.view(now), l.console.w, l.console.h), " ", m.events.view(m.snap, m.providers.endpoints)))
	default:
		add(l.console, m.console.view(now))
		add(l.events, m.events.view(m.snap, m.providers.endpoints))
	}
	add(l.help, m.footerView())
	v.SetContent(fitBlock(strings.Join(parts, "\n"), w, h))

	inputY := l.console.y + 1 // the console's prompt line, under its title
	if m.focus == focusConsole && m.console.height >= 2 && inputY < h {
		if c := m.console.input.Cursor(); c != nil {
			c.Y += inputY
			v.Cursor = c
		}
	}
	return v
}

// routedView is what routing delivered for the selected model against the
// best single provider over the same window, OpenRouter's "with routing /
// without": "routed 100% vs best single 91% (groq)", or in short "routed
// 100% / best 91%"; "" without data.
func (m *model) routedView(short bool) string {
	ms, ok := m.modelStatus()
	if !ok || ms.Delivered < 0 {
		return ""
	}
	st := m.ctx.styles
	routed := st.okText
	if ms.BestSingle >= 0 && ms.Delivered < ms.BestSingle {
		routed = st.warn
	}
	text := "routed " + routed.Render(fmtPct(ms.Delivered))
	switch {
	case ms.BestSingle < 0:
	case short:
		text += st.muted.Render(" / best " + fmtPct(ms.BestSingle))
	default:
		text += st.muted.Render(fmt.Sprintf(" vs best single %s (%s)", fmtPct(ms.BestSingle), ms.BestProvider))
	}
	return text
}

// rateView is the selected model's routed requests per second.
func (m *model) rateView() string {
	ms, ok := m.modelStatus()
	if !ok {
		return ""
	}
	if ms.PerSecond > 0 && ms.PerSecond < 0.1 {
		return fmt.Sprintf("%.2f req/s", ms.PerSecond)
	}
	return fmt.Sprintf("%.1f req/s", ms.PerSecond)
}

// modelStatus is what the snapshot says routing delivered for the
// selected model.
func (m *model) modelStatus() (monitor.ModelStatus, bool) {
	if m.snap == nil || len(m.models) == 0 {
		return monitor.ModelStatus{}, false
	}
	return m.snap.Model(m.models[m.cur])
}

// demoView says that demo traffic is running, and how fast; "" when it is
// not.
func (m *model) demoView() string {
	d := m.opts.Demo
	if d == nil || !d.On() {
		return ""
	}
	r := d.Rate()
	if r < 0.1 {
		return fmt.Sprintf("demo %.2f/s", r)
	}
	return fmt.Sprintf("demo %.1f/s", r)
}

// The parts of the header that give way, in the order they do.
const (
	hdrPosition = iota // "model 1/2 (m)": the help line says m too
	hdrClock
	hdrHealth
	hdrRoutedLong // "vs best single 91% (groq)" becomes "/ best 91%"
	hdrAPI
	hdrDemo
	hdrRouted
	hdrRate
	numHeaderParts
)

// headerView is the headline: the product, the model, its request rate
// and what routing delivered against the best single provider, the demo
// traffic, where the API listens, how fresh the health is, and the clock.
// On a narrow terminal it gives way a part at a time, the model's position
// and the clock first, so that the rate and routed-vs-best stay to the
// last.
func (m *model) headerView(now time.Time) string {
	st := m.ctx.styles
	var health string
	switch {
	case m.feedEnd:
		health = st.errText.Render("health feed ended")
	case m.snap == nil:
		health = st.muted.Render("waiting for health data")
	default:
		age := now.Sub(m.snap.At)
		style := st.muted
		if age > 5*time.Second {
			style = st.warn // the monitor has stopped publishing
		}
		health = style.Render("health " + ago(age))
	}
	var api string
	if m.opts.API != "" {
		api = st.muted.Render("API " + m.opts.API)
	}
	var pos string
	if len(m.models) > 1 {
		pos = st.muted.Render(fmt.Sprintf("model %d/%d (m)", m.cur+1, len(m.models)))
	}
	rate, demo := m.rateView(), m.demoView()
	long, short := m.routedView(false), m.routedView(true)
	left := st.product.Render("Switchboard") + "  " + st.model.Render(m.displayName())
	dot := st.muted.Render(" · ")

	var gone [numHeaderParts]bool
	compose := func() (string, string) {
		l := left
		if !gone[hdrPosition] && pos != "" {
			l += "  " + pos
		}
		var figures []string
		for _, f := range []struct {
			part int
			text string
		}{{hdrRate, rate}, {hdrRouted, long}, {hdrDemo, demo}} {
			if f.part == hdrRouted && gone[hdrRoutedLong] {
				f.text = short
			}
			if !gone[f.part] && f.text != "" {
				figures = append(figures, f.text)
			}
		}
		if len(figures) > 0 {
			l += st.muted.Render("  ·  ") + strings.Join(figures, dot)
		}
		var r []string
		for _, p := range []struct {
			part int
			text string
		}{{hdrAPI, api}, {hdrHealth, health}, {hdrClock, st.muted.Render(now.Format("15:04:05"))}} {
			if !gone[p.part] && p.text != "" {
				r = append(r, p.text)
			}
		}
		return l, strings.Join(r, dot)
	}
	fits := func() (string, bool) {
		l, r := compose()
		gap := m.ctx.width - lipgloss.Width(l) - lipgloss.Width(r)
		if gap >= 2 || (r == "" && gap >= 0) {
			return l + strings.Repeat(" ", max(gap, 0)) + r, true
		}
		return l, false
	}
	dropped := 0
	for ; dropped < numHeaderParts; dropped++ {
		if _, ok := fits(); ok {
			break
		}
		gone[dropped] = true
	}
	// What fits may leave room for a part given up earlier (the health's
	// age beside a shortened line): the later it went, the sooner it
	// comes back.
	for part := dropped - 1; part >= 0; part-- {
		if part == hdrClock && gone[hdrHealth] {
			continue // the clock goes before the health's age, and comes back after it
		}
		gone[part] = false
		if _, ok := fits(); !ok {
			gone[part] = true
		}
	}
	h, ok := fits()
	if !ok {
		return clip(h, m.ctx.width)
	}
	return h
}

// ago says how old something is, briefly, for the header: "just now" under
// a tenth of a second, else the age in cellDuration's five cells, so the
// header does not shift as the age ticks.
func ago(d time.Duration) string {
	if d < 100*time.Millisecond {
		return "just now"
	}
	return cellDuration(d) + " ago"
}

// providersSummary is the right side of the providers' title: how many are
// up, and which rows show when not all fit.
func (m *model) providersSummary() string {
	p := m.providers
	up := 0
	for _, e := range p.endpoints {
		if s, ok, _ := p.status(e.ID); ok && (s.State == monitor.Healthy || s.State == monitor.Degraded) {
			up++
		}
	}
	s := fmt.Sprintf("%d/%d answering", up, len(p.endpoints))
	if n := len(p.endpoints); n > p.rows {
		s += fmt.Sprintf(" · rows %d-%d of %d", p.offset+1, min(p.offset+p.rows, n), n)
	}
	st := m.ctx.styles
	switch f := m.fleet(); {
	case f == nil:
	case f.Linked:
		s = "the fleet's figures · " + s
	default:
		return st.warn.Render("cut off: this replica's figures") + st.muted.Render(" · "+s)
	}
	return st.muted.Render(s)
}

// fleet is how this replica stands in its fleet, as the snapshot shown
// says; nil alone.
func (m *model) fleet() *monitor.FleetStatus {
	if m.snap == nil {
		return nil
	}
	return m.snap.Fleet
}

// fleetHeight is the lines the fleet takes under the header: none alone,
// its line (two for a warning), and with r its replicas, in at most a
// quarter of the screen.
func (m *model) fleetHeight() int {
	f := m.fleet()
	if f == nil {
		return 0
	}
	n := len(fleetLines(m.ctx.styles, f, m.ctx.width))
	if !m.replicas {
		return n
	}
	return n + min(len(replicasLines(m.ctx.styles, f, m.snap.At, m.ctx.width)), max(m.ctx.height/4-n, 1))
}

// fleetView is the fleet's line, and its replicas under it when shown.
func (m *model) fleetView() string {
	f, w := m.fleet(), m.ctx.width
	if f == nil {
		return ""
	}
	lines := fleetLines(m.ctx.styles, f, w)
	if m.replicas {
		lines = append(lines, fitLines(m.ctx.styles, replicasLines(m.ctx.styles, f, m.snap.At, w), m.screen.fleet.h-len(lines), w)...)
	}
	return strings.Join(lines, "\n")
}

func (m *model) footerView() string {
	if m.notice != "" {
		style := m.ctx.styles.okText
		if m.noticeBad {
			style = m.ctx.styles.errText
		}
		return clip(style.Render(m.notice), m.ctx.width)
	}
	return m.help.View(m.helpKeys())
}
