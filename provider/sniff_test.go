package provider

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// gzipped returns b compressed with gzip.
func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBodySniffed: an HTML page or gzip-compressed bytes are malformed
// answers, whether the Content-Type is missing or claims an event stream
// or JSON, on both protocols. They used to be read as an event stream
// without events: a cut stream.
func TestBodySniffed(t *testing.T) {
	const page = "\r\n  <!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
	for _, p := range protocols {
		zipped := gzipped(t, readFixture(t, p.normal))
		for _, ctype := range []string{"", "text/event-stream", "application/json"} {
			for what, body := range map[string][]byte{"HTML": []byte(page), "gzip": zipped} {
				t.Run(p.name+"/"+what+"/"+ctype, func(t *testing.T) {
					h := func(w http.ResponseWriter, r *http.Request) {
						w.Header()["Content-Type"] = nil // none, not even sniffed by net/http
						if ctype != "" {
							w.Header().Set("Content-Type", ctype)
						}
						w.Write(body)
					}
					c, _ := serveTo(t, http.HandlerFunc(h), p.newClient)
					_, chunks, err := streamAll(t, c)
					if got := classOf(t, err); got != ClassMalformed || len(chunks) != 0 || !strings.Contains(err.Error(), what) {
						t.Fatalf("%d chunks, class %v (%v); want malformed, naming %s", len(chunks), got, err, what)
					}
				})
			}
		}
	}
	t.Run("JSON after white space", func(t *testing.T) {
		_, body := splitFixture(t, readFixture(t, "ok_completion_json.txt"))
		h := func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "\n\n  ")
			w.Write(body)
		}
		c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
		_, chunks, err := streamAll(t, c)
		if err != io.EOF || len(chunks) != 1 || chunks[0].Content == "" {
			t.Fatalf("chunks %+v, %v; want the whole answer", chunks, err)
		}
	})
}
