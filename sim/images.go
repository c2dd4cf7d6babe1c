package sim

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// imageTokens is what one image counts in a prompt, whatever its size or
// detail: OpenAI's base cost of an image (85 tokens, all a low-detail
// image costs), so that usage moves by a known amount per image.
const imageTokens = 85

// image is an image in a request, with the refusal to answer, in the
// request's API, if the model takes no images: the server decides that,
// as only it knows the profile.
type image struct {
	refusal *httpError
}

// anthropicMediaTypes are the media types the Messages API takes for a
// base64 image.
var anthropicMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// decodeBase64 reports whether s is base64 (standard alphabet, padded or
// not) that decodes to something.
func decodeBase64(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	return err == nil && len(b) > 0
}

// dataURL splits a data URL "data:<media type>;base64,<data>"; ok is false
// for any other string.
func dataURL(url string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return "", "", false
	}
	head, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mediaType, ok = strings.CutSuffix(head, ";base64")
	return mediaType, data, ok
}

// imageNote is what an answer says first when the user's last message
// holds images: that the model saw them.
func imageNote(n int) string {
	if n == 1 {
		return "I see 1 image."
	}
	return "I see " + strconv.Itoa(n) + " images."
}
