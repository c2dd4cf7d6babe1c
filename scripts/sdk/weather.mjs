// The tool loop both SDK programs run through Switchboard, and the checks
// they share: a question with a get_weather tool, a call that must match the
// tool's schema, the tool's result, and a final answer; each turn pinned to
// one provider with OpenRouter's provider.only, and served by it.

// The get_weather tool's parameters: both properties required, one an enum,
// nothing else allowed, so that a call can be checked against it exactly.
export const weatherSchema = {
  type: "object",
  properties: {
    city: { type: "string", description: "The city, e.g. Lisbon" },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
  },
  required: ["city", "unit"],
  additionalProperties: false,
};

export const weatherDescription = "The current weather in a city.";

export const weatherQuestion = "What is the weather in Lisbon right now? Use the get_weather tool.";

// checkWeatherArgs returns a get_weather call's arguments (a JSON string, or
// the object Anthropic's SDK has already parsed) if they match weatherSchema,
// and throws saying how they do not.
export function checkWeatherArgs(args) {
  const shown = typeof args === "string" ? args : JSON.stringify(args);
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch (e) {
      throw new Error(`get_weather's arguments ${shown} are not JSON: ${e.message}`);
    }
  }
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    throw new Error(`get_weather's arguments ${shown} are not an object`);
  }
  for (const key of Object.keys(args)) {
    if (!(key in weatherSchema.properties)) {
      throw new Error(`get_weather's arguments ${shown} have ${key}, which the schema does not allow`);
    }
  }
  for (const key of weatherSchema.required) {
    if (typeof args[key] !== "string" || args[key] === "") {
      throw new Error(`get_weather's arguments ${shown} lack the required string ${key}`);
    }
  }
  if (!weatherSchema.properties.unit.enum.includes(args.unit)) {
    throw new Error(`get_weather's arguments ${shown} have unit ${JSON.stringify(args.unit)}, not one of the enum`);
  }
  return args;
}

// weatherReport is what the tool answers for args.
export function weatherReport(args) {
  return JSON.stringify({ city: args.city, temperature: 21, unit: args.unit, conditions: "sunny" });
}

// checkUsesReport throws unless a final answer uses the tool's result: the
// simulated providers' model quotes it, so its words are the sign that the
// result reached the upstream in the upstream's own protocol. (A real model
// would word it its own way; against one, expect this check to fail.)
export function checkUsesReport(answer, report) {
  if (!answer.includes("sunny")) {
    throw new Error(`turn 2: the answer does not use the tool's result ${report}: ${JSON.stringify(answer)}`);
  }
}

// target reads where to send the loop from the arguments (or the
// environment): the gateway's URL, the provider to pin and the model.
export function target(program) {
  const [url, provider, model] = [
    process.argv[2] ?? process.env.SWITCHBOARD_URL,
    process.argv[3] ?? process.env.SWITCHBOARD_PROVIDER,
    process.argv[4] ?? process.env.SWITCHBOARD_MODEL,
  ];
  if (!url || !provider || !model) {
    console.error(`usage: node ${program} <gateway URL, e.g. http://127.0.0.1:8788> <provider to pin> <model>`);
    console.error("(or set SWITCHBOARD_URL, SWITCHBOARD_PROVIDER and SWITCHBOARD_MODEL)");
    process.exit(2);
  }
  return { url: url.replace(/\/+$/, ""), provider, model, apiKey: process.env.SWITCHBOARD_API_KEY ?? "sk-test-sdk" };
}

// servedBy checks that every provider an answer names (its body's provider
// field, or each stream event's) and its X-Switchboard-Provider header are
// the pinned one, and returns it.
export function servedBy(turn, pin, named, header) {
  if (named.length === 0) {
    throw new Error(`${turn}: the answer names no provider`);
  }
  for (const p of named) {
    if (p !== pin) {
      throw new Error(`${turn}: pinned to ${pin}, but the answer names provider ${JSON.stringify(p)}`);
    }
  }
  if (header !== pin) {
    throw new Error(`${turn}: pinned to ${pin}, but X-Switchboard-Provider is ${JSON.stringify(header)}`);
  }
  return pin;
}

// run runs the loop once whole and once streamed, printing what each turn
// gave, and exits non-zero with the reason at the first mismatch.
export async function run(program, loop) {
  try {
    for (const stream of [false, true]) {
      await loop(stream, (line) => console.log(`${program} ${stream ? "streamed" : "whole"} ${line}`));
    }
  } catch (e) {
    console.error(`${program}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
