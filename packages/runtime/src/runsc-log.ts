import { readFile } from "node:fs/promises";
import type { RuntimeStatus } from "./runtime.js";
import { tailLines } from "./text.js";

/** What runsc's `state` status means to Burrow. */
export function toStatus(s: string | undefined): RuntimeStatus {
  if (s === "running" || s === "created") return "running";
  if (s === "paused") return "paused";
  if (s === "stopped") return "stopped";
  return "absent";
}

/** The last warnings and errors of a runsc --log file (empty if unreadable). */
export async function readTail(path: string): Promise<string> {
  try {
    return tailLines(readableLog(await readFile(path, "utf8")), 20);
  } catch {
    return "";
  }
}

/** runsc --log writes JSON lines; keep the warning and error messages. */
export function readableLog(text: string): string {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) {
      if (line.trim()) out.push(line);
      continue;
    }
    try {
      const entry = JSON.parse(line) as { msg?: string; level?: string };
      if (entry.msg && (entry.level === "error" || entry.level === "warning")) out.push(entry.msg);
    } catch {
      out.push(line);
    }
  }
  return out.join("\n");
}
