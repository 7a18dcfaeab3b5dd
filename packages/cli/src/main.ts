#!/usr/bin/env node
/** The `burrow` binary: wires the real process into runCli. */
import { readFileSync } from "node:fs";
import { runCli } from "./cli.js";
import type { CliIo, SignalName } from "./context.js";

function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  onSignal(signal: SignalName, handler: () => void) {
    if (signal === "SIGWINCH") {
      process.stdout.on("resize", handler);
      return () => process.stdout.off("resize", handler);
    }
    process.on(signal, handler);
    return () => process.off(signal, handler);
  },
};

// A closed pipe (`burrow exec … | head`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  process.exit(err.code === "EPIPE" ? 0 : 1);
});

const code = await runCli(process.argv.slice(2), io, cliVersion());
// Exit explicitly: an open stdin or a kept-alive connection would otherwise hold the process.
process.exitCode = code;
process.stdout.write("", () => process.exit(code));
