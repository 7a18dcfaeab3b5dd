/** The one error formatter and the tables of human output. */
import { BurrowError, type SandboxInfo } from "@burrow/sdk";
import { UsageError } from "./args.js";

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** `error: <message> (<code>)` and the exit code that goes with it. */
export function formatError(err: unknown): { text: string; exitCode: number } {
  if (err instanceof UsageError) {
    const hint = err.command === undefined ? "burrow --help" : `burrow ${err.command} --help`;
    return { text: `error: ${err.message}\nRun '${hint}' for usage.`, exitCode: EXIT_USAGE };
  }
  if (err instanceof BurrowError) return { text: `error: ${err.message} (${err.code})`, exitCode: EXIT_ERROR };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const suffix = typeof code === "string" ? ` (${code})` : " (internal)";
    return { text: `error: ${err.message}${suffix}`, exitCode: EXIT_ERROR };
  }
  return { text: `error: ${String(err)} (internal)`, exitCode: EXIT_ERROR };
}

/** Left-aligned columns separated by two spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function formatMetadata(metadata: Record<string, string>): string {
  return Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function sandboxTable(sandboxes: readonly SandboxInfo[]): string {
  return table(
    ["ID", "TEMPLATE", "STATE", "CREATED", "METADATA"],
    sandboxes.map((s) => [s.id, s.template, s.state, s.createdAt, formatMetadata(s.metadata)]),
  );
}

export function sandboxDetails(s: SandboxInfo): string {
  const rows: [string, string][] = [
    ["id", s.id],
    ["template", s.template],
    ["state", s.state],
    ["vcpus", String(s.resources.vcpus)],
    ["memory", `${s.resources.memoryMb} MiB`],
    ["pids", String(s.resources.pids)],
    ["disk", s.resources.diskMb > 0 ? `${s.resources.diskMb} MiB` : "unbounded (made before disk limits)"],
    ["created", s.createdAt],
    ["updated", s.updatedAt],
    ["metadata", formatMetadata(s.metadata)],
  ];
  if (s.error !== undefined) rows.push(["error", s.error]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`.trimEnd()).join("\n");
}
