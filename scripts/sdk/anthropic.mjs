// A tool loop through Switchboard's Messages API with the official
// @anthropic-ai/sdk package, as an agent would write it: messages.create for
// whole answers, messages.stream and finalMessage() for streamed ones; a
// get_weather tool_use block, its tool_result, and the final answer, each
// turn served by the pinned provider. Run by sdk_test.go; by hand after
// `npm ci` here:
//
//	node anthropic.mjs http://127.0.0.1:8788 <provider> <model>
import Anthropic from "@anthropic-ai/sdk";
import { checkUsesReport, checkWeatherArgs, run, servedBy, target, weatherDescription, weatherQuestion, weatherReport, weatherSchema } from "./weather.mjs";

const program = "anthropic.mjs";
const { url, provider: pin, model, apiKey } = target(program);
// No retries: a failure is a finding, not something to retry past.
const client = new Anthropic({ apiKey, baseURL: url, maxRetries: 0, timeout: 20_000 });

const tools = [{ name: "get_weather", description: weatherDescription, input_schema: weatherSchema }];

// turn asks once and returns the message and who served it: the message's
// provider field (a streamed message has it from message_start, which the
// SDK's snapshot starts from) and the X-Switchboard-Provider header.
async function turn(label, messages, stream) {
  // provider is OpenRouter's field, not Anthropic's; the SDK passes it on.
  const body = { model, messages, tools, max_tokens: 200, provider: { only: [pin] } };
  let message, response;
  if (stream) {
    const s = client.messages.stream(body);
    ({ response } = await s.withResponse());
    message = await s.finalMessage();
  } else {
    ({ data: message, response } = await client.messages.create(body).withResponse());
  }
  return { message, served: servedBy(label, pin, [message.provider], response.headers.get("x-switchboard-provider")) };
}

await run(program, async (stream, say) => {
  const messages = [{ role: "user", content: weatherQuestion }];
  const first = await turn("turn 1", messages, stream);
  const uses = first.message.content.filter((b) => b.type === "tool_use");
  if (first.message.stop_reason !== "tool_use" || uses.length !== 1) {
    throw new Error(`turn 1: stop_reason ${first.message.stop_reason} and ${uses.length} tool_use blocks, want tool_use and one: ${JSON.stringify(first.message)}`);
  }
  const [use] = uses;
  if (use.name !== "get_weather" || !use.id) {
    throw new Error(`turn 1: want a tool_use of get_weather with an id, got ${JSON.stringify(use)}`);
  }
  const args = checkWeatherArgs(use.input);
  say(`turn 1 served by ${first.served}: get_weather(${JSON.stringify(use.input)})`);

  const report = weatherReport(args);
  messages.push(
    { role: "assistant", content: first.message.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: report }] },
  );
  const final = await turn("turn 2", messages, stream);
  const text = final.message.content.filter((b) => b.type === "text").map((b) => b.text).join("");
  if (final.message.stop_reason !== "end_turn" || final.message.content.some((b) => b.type === "tool_use") || !text.trim()) {
    throw new Error(`turn 2: stop_reason ${final.message.stop_reason}, want end_turn and a text answer without tool_use: ${JSON.stringify(final.message)}`);
  }
  checkUsesReport(text, report);
  say(`turn 2 served by ${final.served}: ${JSON.stringify(text)}`);
});
