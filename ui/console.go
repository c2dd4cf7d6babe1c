package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"switchboard/provider"
	"switchboard/routing"
)

// consoleMaxTokens caps the console's answers: enough to see the stream,
// short enough to read on one screen.
const consoleMaxTokens = 400

// request is one prompt on its way through the router. Send runs in a
// command's goroutine and hands every delta to onDelta; the deltas pile up
// here and a wake-up goes on a one-slot channel, so Send never blocks on a
// slow screen and bursts of tokens arrive as one message.
type request struct {
	id     int
	cancel context.CancelFunc
	wake   chan struct{} // one slot: "there is news"

	mu       sync.Mutex
	pending  strings.Builder // streamed since the last message
	finished bool
	res      *routing.Result
	err      error
}

func (r *request) onDelta(d routing.Delta) {
	r.mu.Lock()
	r.pending.WriteString(d.Content)
	r.mu.Unlock()
	r.signal()
}

func (r *request) finish(res *routing.Result, err error) {
	r.mu.Lock()
	r.finished, r.res, r.err = true, res, err
	r.mu.Unlock()
	r.signal()
}

func (r *request) signal() {
	select {
	case r.wake <- struct{}{}:
	default: // news is already waiting to be taken
	}
}

// send is the command that runs the request; it reports through wait.
func (r *request) send(ctx context.Context, router Router, req routing.Request) tea.Cmd {
	return func() tea.Msg {
		defer r.cancel()
		if router == nil {
			r.finish(nil, errors.New("no router: the dashboard was started without one"))
			return nil
		}
		res, err := router.Send(ctx, req, r.onDelta)
		r.finish(res, err)
		return nil
	}
}

// wait is the channel-waiting command: it blocks until there is news and
// returns it. The console re-arms it after every message until the last.
func (r *request) wait() tea.Cmd {
	return func() tea.Msg {
		<-r.wake
		r.mu.Lock()
		defer r.mu.Unlock()
		m := streamMsg{id: r.id, delta: r.pending.String(), done: r.finished, res: r.res, err: r.err}
		r.pending.Reset()
		return m
	}
}

// phase is where the console's exchange stands.
type phase int

const (
	phaseIdle      phase = iota // nothing asked yet
	phaseWaiting                // sent, no content yet
	phaseStreaming              // content is arriving
	phaseDone                   // answered
	phaseFailed                 // no answer
	phaseCanceled               // the user cancelled it
)

// exchange is the prompt on screen, its answer as far as it came, and how
// it was routed.
type exchange struct {
	req      *request
	prompt   string
	model    string
	answer   strings.Builder
	res      *routing.Result
	err      error
	phase    phase
	started  time.Time
	finished time.Time
}

// console is the prompt line and the transcript of the last exchange.
type console struct {
	ctx    *programContext
	input  textinput.Model
	out    viewport.Model
	width  int
	height int // the whole console: title, input, transcript
	nextID int
	ex     exchange
	opts   consoleOptions // routing options set with slash commands
	help   bool           // the list of slash commands is open in the transcript's place

	history  []string // prompts and commands sent, oldest first
	recalled int      // how far back ↑ has gone; 0 is the line being typed
	draft    string   // the line being typed when ↑ was first pressed
}

// maxHistory bounds the prompts kept for ↑.
const maxHistory = 100

// remember keeps a sent line for ↑, once if sent twice in a row.
func (c *console) remember(line string) {
	if n := len(c.history); n == 0 || c.history[n-1] != line {
		c.history = append(c.history, line)
		if len(c.history) > maxHistory {
			c.history = c.history[1:]
		}
	}
	c.recalled, c.draft = 0, ""
}

// recall puts an earlier (back) or later line of the history in the input;
// past the newest it brings back what was being typed.
func (c *console) recall(back bool) {
	if c.recalled == 0 {
		c.draft = c.input.Value()
	}
	switch {
	case back && c.recalled < len(c.history):
		c.recalled++
	case !back && c.recalled > 0:
		c.recalled--
	default:
		return
	}
	line := c.draft
	if c.recalled > 0 {
		line = c.history[len(c.history)-c.recalled]
	}
	c.input.SetValue(line)
	c.input.CursorEnd()
}

func newConsole(ctx *programContext) *console {
	in := textinput.New()
	in.Prompt = "› "
	in.CharLimit = 4000
	in.SetVirtualCursor(false) // the terminal's own cursor: no blink ticks to run
	in.SetStyles(ctx.styles.input)
	return &console{ctx: ctx, input: in, out: viewport.New()}
}

// busy reports whether a request is in flight.
func (c *console) busy() bool {
	return c.ex.phase == phaseWaiting || c.ex.phase == phaseStreaming
}

func (c *console) setSize(w, h int) {
	c.width, c.height = w, h
	c.input.SetWidth(max(w-ansi.StringWidth(c.input.Prompt)-1, 1))
	c.out.SetWidth(max(w, 1))
	c.out.SetHeight(max(h-2, 0))
	c.refresh()
}

func (c *console) setStyles() {
	c.input.SetStyles(c.ctx.styles.input)
	c.refresh()
}

func (c *console) focus(displayModel string) tea.Cmd {
	c.input.Placeholder = "ask " + displayModel + " — enter sends, esc goes back"
	return c.input.Focus()
}

func (c *console) blur(displayModel string) {
	c.input.Blur()
	c.input.Placeholder = "press / to ask " + displayModel
}

// submit sends the typed prompt to model. It refuses, with a notice, while
// another request runs.
func (c *console) submit(ctx context.Context, router Router, model string) (tea.Cmd, string) {
	prompt := strings.TrimSpace(c.input.Value())
	if prompt == "" {
		return nil, ""
	}
	if c.busy() {
		return nil, "a request is still running: wait for it, or esc to cancel it"
	}
	c.remember(prompt)
	c.nextID++
	rctx, cancel := context.WithCancel(ctx)
	r := &request{id: c.nextID, cancel: cancel, wake: make(chan struct{}, 1)}
	c.ex = exchange{req: r, prompt: prompt, model: model, phase: phaseWaiting, started: c.ctx.now()}
	c.help = false // the answer takes the transcript's place
	c.input.Reset()
	c.refresh()
	c.out.GotoBottom()
	req := routing.Request{Model: model, MaxTokens: consoleMaxTokens,
		Messages: []provider.Message{{Role: "user", Content: prompt}}}
	c.opts.request(&req)
	return tea.Batch(r.send(rctx, router, req), r.wait()), ""
}

// cancel stops the request in flight, if any. Its trace still shows when
// Send returns.
func (c *console) cancel() {
	if !c.busy() {
		return
	}
	c.ex.req.cancel()
	c.ex.phase, c.ex.finished = phaseCanceled, c.ctx.now()
	c.refresh()
}

// stream takes news of a request and re-arms the wait until the last.
func (c *console) stream(m streamMsg) tea.Cmd {
	if c.ex.req == nil || m.id != c.ex.req.id {
		return nil // a request no longer on screen: let it go
	}
	if c.ex.phase == phaseCanceled {
		if m.done {
			c.ex.res = m.res
			c.refresh()
			return nil
		}
		return c.ex.req.wait()
	}
	if m.delta != "" {
		c.ex.answer.WriteString(Printable(m.delta))
		c.ex.phase = phaseStreaming
	}
	if m.done {
		c.ex.res, c.ex.err, c.ex.finished = m.res, m.err, c.ctx.now()
		c.ex.phase = phaseDone
		if m.err != nil {
			c.ex.phase = phaseFailed
		}
	}
	follow := c.out.AtBottom()
	c.refresh()
	if follow {
		c.out.GotoBottom()
	}
	if m.done {
		return nil
	}
	return c.ex.req.wait()
}

func (c *console) scroll(down bool) {
	if down {
		c.out.PageDown()
	} else {
		c.out.PageUp()
	}
}

// command runs a slash command line: /help opens the list of commands in
// the transcript's place; any other sets the options (see apply), its
// provider names checked against router's providers of model and of the
// fallback models. It says what it did, or why it did nothing.
func (c *console) command(line string, router Router, model string) (string, error) {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "/"), " ")
	if name == "help" || name == "" {
		c.help = true
		c.refresh()
		c.out.GotoTop()
		return "↑↓ or pgup/pgdn scroll the list of commands · esc closes it", nil
	}
	var resolve resolver
	var providers func(string) []string
	if router != nil {
		resolve, providers = router.ResolveProviders, routerProviders(router)
	}
	said, err := c.opts.apply(line, model, resolve)
	if err != nil {
		n := c.opts
		if _, serr := n.set(line); serr == nil {
			err = unknownProvider(err, &n, append([]string{model}, n.models...), providers)
		}
		return "", err
	}
	return said, nil
}

// routerProviders lists the providers of a model the router serves, slugs
// and display names: the names /order, /only and /ignore take.
func routerProviders(r Router) func(model string) []string {
	return func(model string) []string {
		base, _ := routing.ModelSuffix(r.Canonical(model))
		var names []string
		for _, e := range r.Endpoints(base) {
			names = append(names, e.Provider)
			if e.ProviderName != "" && !strings.EqualFold(e.ProviderName, e.Provider) {
				names = append(names, e.ProviderName)
			}
		}
		return names
	}
}

// helpKey takes the keys of the open list of commands: ↑↓ and pgup/pgdn
// scroll it, esc closes it. It reports whether the key was taken; every
// other key, and every key while the list is closed, is not.
func (c *console) helpKey(msg tea.KeyPressMsg) bool {
	if !c.help {
		return false
	}
	switch msg.String() {
	case "esc":
		c.help = false
		c.refresh()
		c.out.GotoBottom()
	case "up":
		c.out.ScrollUp(1)
	case "down":
		c.out.ScrollDown(1)
	case "pgup":
		c.out.PageUp()
	case "pgdown":
		c.out.PageDown()
	default:
		return false
	}
	return true
}

// commandList is /help's list in w cells: each command with its
// arguments, then what it does, beside them when there is room, else
// under them.
func commandList(st *styles, w int) string {
	usage := make([]string, len(slashCommands))
	col := 0
	for i, sc := range slashCommands {
		usage[i] = strings.TrimSpace("/" + sc.name + " " + sc.args)
		col = max(col, ansi.StringWidth(usage[i]))
	}
	var b strings.Builder
	b.WriteString(st.bold.Render("Slash commands") + st.muted.Render(" — set routing options for the prompts that follow; off clears one") + "\n")
	for i, sc := range slashCommands {
		if w-col-2 >= 30 {
			does := strings.Split(ansi.Wrap(sc.does, w-col-2, ""), "\n")
			for j, line := range does {
				left := ""
				if j == 0 {
					left = usage[i]
				}
				b.WriteString(st.you.Render(left) + strings.Repeat(" ", col+2-ansi.StringWidth(left)) + line + "\n")
			}
			continue
		}
		b.WriteString(st.you.Render(usage[i]) + "\n")
		b.WriteString(ansi.Wrap("  "+sc.does, w, "") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// refresh rebuilds the transcript text. It runs when the exchange or the
// size changes, not per frame.
func (c *console) refresh() {
	w := max(c.width, 1)
	st := c.ctx.styles
	ex := &c.ex
	if c.help {
		c.out.SetContent(commandList(st, w))
		return
	}
	if ex.phase == phaseIdle {
		idle := "Answers stream here, followed by the routing decision: who served, who was skipped and why."
		if c.ctx.simulated {
			// Said before the first answer, so that its sample text is
			// not taken for a model's reply gone wrong.
			idle += "\nEvery provider here is simulated: the answers are sample text."
		}
		c.out.SetContent(st.muted.Render(ansi.Wrap(idle, w, "")))
		return
	}
	var b strings.Builder
	b.WriteString(ansi.Wrap(st.you.Render("you ›")+" "+ex.prompt, w, ""))
	b.WriteString("\n")

	who := "answer ›"
	if ex.res != nil && ex.res.Provider != "" {
		who = ex.res.Provider + " ›"
	}
	answer := ex.answer.String()
	switch {
	case answer != "":
		text := st.served.Render(who) + " " + answer
		if ex.phase == phaseStreaming {
			text += st.muted.Render("▍")
		}
		b.WriteString(ansi.Wrap(text, w, ""))
		b.WriteString("\n")
	case ex.phase == phaseWaiting:
		b.WriteString(st.muted.Render("routing…") + "\n")
	}

	switch ex.phase {
	case phaseFailed:
		b.WriteString(ansi.Wrap(st.errText.Render("✕ "+errorText(ex.err)), w, ""))
		b.WriteString("\n")
	case phaseCanceled:
		b.WriteString(st.warn.Render("canceled") + "\n")
	}
	if ex.res != nil && ex.phase != phaseStreaming && ex.phase != phaseWaiting {
		if ex.phase == phaseDone && ex.res.FinishReason != "" {
			b.WriteString(st.muted.Render(fmt.Sprintf("finish: %s · %d tokens in, %d out",
				ex.res.FinishReason, ex.res.Usage.PromptTokens, ex.res.Usage.CompletionTokens)))
			b.WriteString("\n")
		}
		if ex.res.Trace != nil {
			b.WriteString("\n")
			b.WriteString(renderTrace(st, ex.res.Trace, w))
		}
	}
	c.out.SetContent(strings.TrimRight(b.String(), "\n"))
}

// errorText is what the user reads of a failed request: the routing error's
// own message.
func errorText(err error) string {
	var re *routing.Error
	if errors.As(err, &re) {
		return re.Message
	}
	if err == nil {
		return "failed"
	}
	return err.Error()
}

// status is the right side of the console's title: where the exchange is.
func (c *console) status(now time.Time) string {
	st := c.ctx.styles
	ex := &c.ex
	if c.help {
		return st.muted.Render("slash commands · esc closes")
	}
	switch ex.phase {
	case phaseWaiting:
		return st.muted.Render(fmt.Sprintf("routing %s…", cellDuration(now.Sub(ex.started))))
	case phaseStreaming:
		return st.muted.Render(fmt.Sprintf("streaming %s…", cellDuration(now.Sub(ex.started))))
	case phaseDone:
		who := "?"
		if ex.res != nil {
			who = ex.res.Provider
		}
		return st.okText.Render(fmt.Sprintf("served by %s in %s", who, cellDuration(ex.finished.Sub(ex.started))))
	case phaseFailed:
		return st.errText.Render(fmt.Sprintf("failed after %s", cellDuration(ex.finished.Sub(ex.started))))
	case phaseCanceled:
		return st.warn.Render("canceled")
	}
	return ""
}

// view renders the title, the prompt line and the transcript in exactly
// c.height lines (fewer if there is no room at all).
func (c *console) view(now time.Time) string {
	if c.height <= 0 {
		return ""
	}
	title := "Console"
	if set := c.opts.String(); strings.HasPrefix(set, "options: ") {
		title += " (" + strings.TrimPrefix(set, "options: ") + ")"
	}
	lines := []string{rule(c.ctx.styles, title, c.status(now), c.width)}
	if c.height >= 2 {
		lines = append(lines, c.input.View())
	}
	if c.height >= 3 {
		lines = append(lines, c.out.View())
	}
	return strings.Join(lines, "\n")
}
