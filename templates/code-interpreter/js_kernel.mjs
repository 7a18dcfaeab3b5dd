// Burrow's JavaScript context for the code interpreter: one Node process per context, one vm
// context whose globals (and top-level let/const/class declarations) live across executions.
// Requests arrive on stdin as JSON lines {id, code, env}; events leave on the file descriptor
// named by BURROW_JS_EVENTS_FD as JSON lines {id, type: stdout|stderr|result|error|done}.
// SIGINT interrupts a running execution (vm's breakOnSigint) and keeps the context.
import { writeSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import vm from "node:vm";

const eventsFd = Number(process.env.BURROW_JS_EVENTS_FD);
let current = null;
let count = 0;
let interruptAwait = null;

function send(message) {
  writeSync(eventsFd, `${JSON.stringify(message)}\n`);
}

function output(type) {
  return new Writable({
    write(chunk, _encoding, callback) {
      if (current !== null) send({ id: current, type, text: chunk.toString() });
      callback();
    },
  });
}

const stdout = output("stdout");
const stderr = output("stderr");
// Writes to the process's own stdout/stderr (from required modules) go to the running execution.
process.stdout.write = (chunk, encoding, callback) => stdout.write(chunk, encoding, callback);
process.stderr.write = (chunk, encoding, callback) => stderr.write(chunk, encoding, callback);

const sandboxGlobals = {
  console: new console.Console({ stdout, stderr }),
  require: createRequire(`${process.cwd()}/`),
  process,
  Buffer,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  AbortController,
  fetch,
  structuredClone,
  queueMicrotask,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
};
const context = vm.createContext(sandboxGlobals);

// A SIGINT outside a synchronous run (e.g. while awaiting a promise) ends that wait.
process.on("SIGINT", () => {
  if (interruptAwait !== null) interruptAwait();
});

function errorEvent(id, error) {
  const name = error?.name ?? "Error";
  const value = error?.message ?? String(error);
  // The stack without this kernel's own frames.
  const stack = String(error?.stack ?? `${name}: ${value}`)
    .split("\n")
    .filter((line) => !line.includes("node:vm") && !line.includes("js_kernel.mjs") && !line.includes("node:internal"))
    .join("\n");
  return { id, type: "error", name, value, traceback: stack };
}

async function settle(value) {
  if (value === null || typeof value?.then !== "function") return value;
  return await new Promise((resolve, reject) => {
    interruptAwait = () => reject(Object.assign(new Error("Execution interrupted"), { name: "KeyboardInterrupt" }));
    value.then(resolve, reject);
  }).finally(() => {
    interruptAwait = null;
  });
}

async function run({ id, code, env }) {
  current = id;
  const saved = {};
  for (const [k, v] of Object.entries(env ?? {})) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const script = new vm.Script(code, { filename: "<cell>" });
    const value = await settle(script.runInContext(context, { breakOnSigint: true, displayErrors: false }));
    if (value !== undefined) send({ id, type: "result", text: inspect(value) });
  } catch (error) {
    send(errorEvent(id, error));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    count += 1;
    send({ id, type: "done", count });
    current = null;
  }
}

// One execution at a time, in arrival order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  queue = queue.then(() => run(request));
});
process.stdin.on("end", () => process.exit(0));
send({ type: "ready" });
