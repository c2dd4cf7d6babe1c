package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"

	"switchboard/monitor"
)

// theme is the dashboard's palette: every colour has a light and a dark
// variant, chosen once the terminal reports its background. Colours are
// written in full; Bubble Tea's renderer downsamples them to what the
// terminal supports, and drops them under NO_COLOR.
type theme struct {
	accent   color.Color // product name, titles
	text     color.Color
	muted    color.Color // secondary text, rules, "no data"
	selectBg color.Color // the selected provider row

	healthy  color.Color
	degraded color.Color
	cooling  color.Color
	down     color.Color
	disabled color.Color

	fault   color.Color // a forced fault on a simulated provider
	latency color.Color // latency sparklines
	errors  color.Color // error-rate sparklines
}

func newTheme(isDark bool) theme {
	ld := lipgloss.LightDark(isDark)
	c := lipgloss.Color
	return theme{
		accent:   ld(c("#6639BA"), c("#B392F0")),
		text:     ld(c("#1F2328"), c("#E6EDF3")),
		muted:    ld(c("#6E7781"), c("#8B949E")),
		selectBg: ld(c("254"), c("236")), // greys from the 256-colour cube: they downsample to themselves
		healthy:  ld(c("#1A7F37"), c("#3FB950")),
		degraded: ld(c("#9A6700"), c("#D29922")),
		cooling:  ld(c("#1B7C83"), c("#39C5CF")),
		down:     ld(c("#CF222E"), c("#F85149")),
		disabled: ld(c("#8C959F"), c("#6E7681")),
		fault:    ld(c("#BC4C00"), c("#F0883E")),
		latency:  ld(c("#0969DA"), c("#58A6FF")),
		errors:   ld(c("#CF222E"), c("#F85149")),
	}
}

// styles are built once from a theme (and again if the background changes),
// never per frame.
type styles struct {
	theme theme

	product   lipgloss.Style // "Switchboard"
	model     lipgloss.Style // the selected model's display name
	muted     lipgloss.Style
	bold      lipgloss.Style
	title     lipgloss.Style // pane titles
	rule      lipgloss.Style // the line after a pane title
	colHeader lipgloss.Style // table column headers
	selected  lipgloss.Style // background of the selected row
	marker    lipgloss.Style // the ▸ of the selected row
	fault     lipgloss.Style
	errText   lipgloss.Style
	okText    lipgloss.Style
	warn      lipgloss.Style
	alert     lipgloss.Style // what must not be missed: a replica cut off from its fleet
	you       lipgloss.Style // the user's prompt in the console
	served    lipgloss.Style // the provider that answered
	tooSmall  lipgloss.Style

	state [monitor.Disabled + 1]lipgloss.Style

	latencySpark lipgloss.Style
	errorSpark   lipgloss.Style

	help  help.Styles
	input textinput.Styles
}

func newStyles(isDark bool) *styles {
	t := newTheme(isDark)
	fg := func(c color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	s := &styles{
		theme:        t,
		product:      fg(t.accent).Bold(true),
		model:        fg(t.text).Bold(true),
		muted:        fg(t.muted),
		bold:         lipgloss.NewStyle().Bold(true),
		title:        fg(t.accent).Bold(true),
		rule:         fg(t.muted),
		colHeader:    fg(t.muted).Bold(true),
		selected:     lipgloss.NewStyle().Background(t.selectBg),
		marker:       fg(t.accent).Bold(true),
		fault:        fg(t.fault).Bold(true),
		errText:      fg(t.down),
		okText:       fg(t.healthy),
		warn:         fg(t.degraded),
		alert:        fg(t.down).Bold(true),
		you:          fg(t.accent).Bold(true),
		served:       fg(t.healthy).Bold(true),
		tooSmall:     fg(t.degraded).Bold(true),
		latencySpark: fg(t.latency),
		errorSpark:   fg(t.errors),
	}
	s.state[monitor.Healthy] = fg(t.healthy)
	s.state[monitor.Degraded] = fg(t.degraded).Bold(true)
	s.state[monitor.CoolingDown] = fg(t.cooling).Bold(true)
	s.state[monitor.Down] = fg(t.down).Bold(true)
	s.state[monitor.Disabled] = fg(t.disabled)

	s.help = help.DefaultStyles(isDark)
	s.input = textinput.DefaultStyles(isDark)
	s.input.Focused.Prompt = fg(t.accent).Bold(true)
	s.input.Blurred.Prompt = fg(t.muted)
	s.input.Focused.Placeholder = fg(t.muted)
	s.input.Blurred.Placeholder = fg(t.muted)
	s.input.Cursor.Color = t.accent
	return s
}

// stateStyle is the colour of a state word; unknown states are plain.
func (s *styles) stateStyle(st monitor.State) lipgloss.Style {
	if int(st) < len(s.state) {
		return s.state[st]
	}
	return lipgloss.NewStyle()
}

// stateGlyph is the symbol before a state word, so states differ without
// colour too.
func stateGlyph(st monitor.State) string {
	switch st {
	case monitor.Healthy:
		return "●"
	case monitor.Degraded:
		return "◐"
	case monitor.CoolingDown:
		return "◔"
	case monitor.Down:
		return "✕"
	case monitor.Disabled:
		return "○"
	}
	return "?"
}
