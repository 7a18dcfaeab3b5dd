import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runscState, startTestServer, type TestServer } from "./harness.js";

const PENDING_FORK = "(fork in progress)";

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function query<T>(dataDir: string, sql: string, ...args: unknown[]): T[] {
  const db = new Database(join(dataDir, "burrow.db"), { readonly: true });
  try {
    return db
      .prepare(sql)
      .pluck()
      .all(...args) as T[];
  } finally {
    db.close();
  }
}

/** Everything of sandbox `id` still on this host or in the database; empty when it is all gone. */
function tracesOf(dataDir: string, id: string): string[] {
  const traces: string[] = [];
  for (const table of ["sandbox_egress", "sandbox_secrets", "previews", "e2b_sandboxes"]) {
    const n = query<number>(dataDir, `SELECT COUNT(*) FROM ${table} WHERE sandbox_id = ?`, id)[0] ?? 0;
    if (n > 0) traces.push(`${n} row(s) in ${table}`);
  }
  const state = query<string>(dataDir, "SELECT state FROM sandboxes WHERE id = ?", id)[0];
  if (state !== "deleted") traces.push(`state ${state}`);
  if (runscState(dataDir, id) !== null) traces.push("runsc container");
  if (existsSync(join(dataDir, "sandboxes", id))) traces.push("sandbox dir");
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    if (line.includes(id)) traces.push(`mount ${line.split(" ")[1]}`);
  }
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  if (netns.split("\n").some((l) => l.startsWith(`burrow-${id}`))) traces.push("netns");
  const iface = `bw${id.slice(3, 16)}`;
  const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
  if (links.includes(`${iface}@`) || links.includes(`${iface}:`)) traces.push(`veth ${iface}`);
  const rules = execFileSync("timeout", ["20", "iptables", "-w", "-S"], { encoding: "utf8" });
  if (rules.includes(`BWE-${iface}`)) traces.push(`iptables chain BWE-${iface}`);
  return traces;
}

// Every way a sandbox goes away — REST, the E2B API, the deleteAfterMs timer, a fork cut short by
// SIGKILL — removes the same things: runsc state, mounts, netns, veth, its firewall chain and every
// row other services kept for it. Real runsc.
describe("deletes leave nothing behind, whichever path", () => {
  let server: TestServer;
  let e2bKey = "";

  const createWithSettings = async (extra: Record<string, unknown> = {}) => {
    const res = await server.request("POST", "/v1/sandboxes", {
      network: {
        // A policy of its own: the sandbox gets a firewall chain.
        egress: { default: "deny", allow: ["10.99.0.0/16"] },
        secrets: [{ name: "ORCH_E2E_TOKEN", hosts: ["api.example.test"] }],
      },
      ...extra,
    });
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { id: string }).id;
    expect((await server.request("POST", `/v1/sandboxes/${id}/previews`, { port: 8000 })).status).toBe(201);
    const traces = tracesOf(server.dataDir, id);
    expect(traces).toEqual(
      expect.arrayContaining([
        "1 row(s) in sandbox_egress",
        "1 row(s) in sandbox_secrets",
        "1 row(s) in previews",
        "runsc container",
        "netns",
        `iptables chain BWE-bw${id.slice(3, 16)}`,
      ]),
    );
    return id;
  };

  beforeAll(async () => {
    server = await startTestServer(undefined, { env: { BURROW_LIFECYCLE_TICK_MS: "100" } });
    e2bKey = readFileSync(join(server.dataDir, "e2b-api-key"), "utf8").trim();
    expect((await server.request("POST", "/v1/secrets", { name: "ORCH_E2E_TOKEN", value: "v" })).status).toBe(201);
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it("through REST", async () => {
    const id = await createWithSettings();
    expect((await server.request("DELETE", `/v1/sandboxes/${id}`)).status).toBe(204);
    expect(tracesOf(server.dataDir, id)).toEqual([]);
  });

  it("through the E2B API", async () => {
    const id = await createWithSettings();
    const res = await fetch(`${server.url}/sandboxes/${id}`, { method: "DELETE", headers: { "X-API-KEY": e2bKey } });
    expect(res.status).toBe(204);
    expect(tracesOf(server.dataDir, id)).toEqual([]);
  });

  it("through the deleteAfterMs timer", async () => {
    const id = await createWithSettings({ lifecycle: { deleteAfterMs: 1_000, standbyAfterMs: 0 } });
    const gone = await waitFor(async () => (await server.request("GET", `/v1/sandboxes/${id}`)).status === 404, 30_000);
    expect(gone).toBe(true);
    expect(tracesOf(server.dataDir, id)).toEqual([]);
  });

  it("a fork cut short by SIGKILL: the next start deletes its sandboxes (nobody got their ids)", async () => {
    const source = await createWithSettings();
    const ck = await server.request("POST", `/v1/sandboxes/${source}/checkpoints`, { wait: true });
    expect(ck.status).toBe(201);
    const cid = ((await ck.json()) as { id: string }).id;
    const fork = server
      .request("POST", `/v1/sandboxes/${source}/checkpoints/${cid}/fork`, { count: 3 })
      .catch(() => null);
    // Killed as soon as a fork's row exists, before the call can answer.
    const started = await waitFor(
      () => query<string>(server.dataDir, "SELECT id FROM sandboxes WHERE pool = ?", PENDING_FORK).length > 0,
      30_000,
    );
    expect(started).toBe(true);
    await server.stop("SIGKILL");
    await fork;
    const forkIds = query<string>(server.dataDir, "SELECT id FROM sandboxes WHERE pool = ?", PENDING_FORK);
    expect(forkIds.length).toBeGreaterThan(0);
    server = await startTestServer(server.dataDir, { env: { BURROW_LIFECYCLE_TICK_MS: "100" } });
    for (const id of forkIds) expect(tracesOf(server.dataDir, id)).toEqual([]);
    expect(server.output()).toContain("interrupted fork");
    // The source is adopted as it was.
    const info = (await (await server.request("GET", `/v1/sandboxes/${source}`)).json()) as { state: string };
    expect(info.state).toBe("running");
    expect((await server.request("DELETE", `/v1/sandboxes/${source}`)).status).toBe(204);
    expect(tracesOf(server.dataDir, source)).toEqual([]);
  });
});
