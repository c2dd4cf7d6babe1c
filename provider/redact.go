package provider

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxMessage bounds the upstream's words kept in an Error: enough for any real
// explanation, short enough for a dashboard line and a log.
const maxMessage = 512

// redacted replaces a secret wherever it appears in an upstream's text. Some
// servers echo the key they were given in a 401 body.
const redacted = "[redacted]"

// scrub removes the API key from s and clips it to maxMessage bytes, so that
// upstream text can go into an Error, a log or a screen.
func scrub(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, redacted)
	}
	return clip(strings.TrimSpace(s), maxMessage)
}

// clip shortens s to at most n bytes, cutting on a rune boundary and marking
// the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// displayURL returns u without credentials, query or fragment, for error
// texts: some gateways take a key in the query string.
func displayURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.ForceQuery = "", false
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}
