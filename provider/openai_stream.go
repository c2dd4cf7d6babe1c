package provider

import "bytes"

// openAIDecoder reads the events of a chat completion stream: one
// chat.completion.chunk each, then "[DONE]". It reuses its chunkReader
// from one event to the next, so each stream has one of its own.
type openAIDecoder struct {
	key    string // to redact from upstream text
	chunks chunkReader
}

func (d *openAIDecoder) event(ev sseEvent) (Chunk, eventKind, error) {
	if string(bytes.TrimSpace(ev.Data)) == "[DONE]" {
		return Chunk{}, eventDone, nil
	}
	c, err := decodeChunk(&d.chunks, ev.Data, d.key)
	return c, eventData, err
}

func (d *openAIDecoder) whole(data []byte) (Chunk, error) { return decodeCompletion(data, d.key) }

// mayHoldText: OpenAI's events are unnamed, so only their data tells.
func (d *openAIDecoder) mayHoldText(sseEvent) bool { return false }
