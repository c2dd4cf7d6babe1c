// A tool loop through Switchboard's chat completions API with the official
// openai package, as an agent would write it: whole answers and streamed
// ones (chat.completions.create with and without stream), a get_weather
// call, its result, and the final answer, each turn served by the pinned
// provider. Run by sdk_test.go; by hand after `npm ci` here:
//
//	node openai.mjs http://127.0.0.1:8788 <provider> <model>
import OpenAI from "openai";
import { checkUsesReport, checkWeatherArgs, run, servedBy, target, weatherDescription, weatherQuestion, weatherReport, weatherSchema } from "./weather.mjs";

const program = "openai.mjs";
const { url, provider: pin, model, apiKey } = target(program);
// No retries: a failure is a finding, not something to retry past.
const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });

const tools = [{ type: "function", function: { name: "get_weather", description: weatherDescription, parameters: weatherSchema } }];

// turn asks once and returns the assistant's message, the finish reason and
// who served it. A streamed answer is put together from its deltas the way
// OpenAI documents them: content appended, each tool call's pieces joined by
// their index, its id and name from the piece that has them.
async function turn(label, messages, stream) {
  // provider is OpenRouter's field, not OpenAI's; the SDK passes it on.
  const body = { model, messages, tools, max_tokens: 200, provider: { only: [pin] } };
  if (!stream) {
    const { data, response } = await client.chat.completions.create(body).withResponse();
    if (data.choices?.length !== 1) {
      throw new Error(`${label}: ${data.choices?.length} choices in ${JSON.stringify(data)}`);
    }
    const [choice] = data.choices;
    return { message: choice.message, finish: choice.finish_reason, served: servedBy(label, pin, [data.provider], response.headers.get("x-switchboard-provider")) };
  }
  const { data: chunks, response } = await client.chat.completions.create({ ...body, stream: true }).withResponse();
  const message = { role: "assistant", content: "", tool_calls: [] };
  const named = [];
  let finish = null;
  for await (const chunk of chunks) {
    named.push(chunk.provider);
    for (const choice of chunk.choices) {
      if (choice.index !== 0) {
        throw new Error(`${label}: a chunk for choice ${choice.index}: ${JSON.stringify(chunk)}`);
      }
      message.content += choice.delta?.content ?? "";
      for (const piece of choice.delta?.tool_calls ?? []) {
        const call = (message.tool_calls[piece.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
        call.id = piece.id ?? call.id;
        call.function.name = piece.function?.name ?? call.function.name;
        call.function.arguments += piece.function?.arguments ?? "";
      }
      finish = choice.finish_reason ?? finish;
    }
  }
  if (message.tool_calls.some((c) => c === undefined)) {
    throw new Error(`${label}: the tool calls' indexes have a gap: ${JSON.stringify(message.tool_calls)}`);
  }
  if (message.tool_calls.length === 0) {
    delete message.tool_calls;
  }
  return { message, finish, served: servedBy(label, pin, named, response.headers.get("x-switchboard-provider")) };
}

await run(program, async (stream, say) => {
  const messages = [{ role: "user", content: weatherQuestion }];
  const first = await turn("turn 1", messages, stream);
  const calls = first.message.tool_calls ?? [];
  if (first.finish !== "tool_calls" || calls.length !== 1) {
    throw new Error(`turn 1: finish_reason ${first.finish} and ${calls.length} tool calls, want tool_calls and one: ${JSON.stringify(first.message)}`);
  }
  const [call] = calls;
  if (call.type !== "function" || call.function.name !== "get_weather" || !call.id) {
    throw new Error(`turn 1: want a function call of get_weather with an id, got ${JSON.stringify(call)}`);
  }
  const args = checkWeatherArgs(call.function.arguments);
  say(`turn 1 served by ${first.served}: get_weather(${call.function.arguments})`);

  const report = weatherReport(args);
  messages.push(first.message, { role: "tool", tool_call_id: call.id, content: report });
  const final = await turn("turn 2", messages, stream);
  if (final.finish !== "stop" || final.message.tool_calls?.length || !final.message.content?.trim()) {
    throw new Error(`turn 2: finish_reason ${final.finish}, want stop and a text answer without tool calls: ${JSON.stringify(final.message)}`);
  }
  checkUsesReport(final.message.content, report);
  say(`turn 2 served by ${final.served}: ${JSON.stringify(final.message.content)}`);
});
