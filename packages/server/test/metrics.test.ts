import type { FakeRuntime } from "@burrow/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../src/server.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

const METRICS_TOKEN = "scrape-token-0123456789";

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return undefined;
}

// Issue 16, item 6: Prometheus metrics and per-sandbox usage; live resource changes.
describe("metrics and live resources with a fake runtime", () => {
  let fake: FakeServer;
  let server: RunningServer;
  let key: string;
  let runtime: FakeRuntime;

  const call = (method: string, path: string, body?: unknown, token: string | null = key) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const scrape = async (token: string | null = METRICS_TOKEN) =>
    (await call("GET", "/metrics", undefined, token)).text();

  beforeAll(async () => {
    fake = await startFakeServer({ metricsToken: METRICS_TOKEN });
    ({ server, key, runtime } = fake);
  });

  afterAll(async () => {
    await fake.close();
  });

  it("guards /metrics: the metrics token or an API key reads it, nothing else does", async () => {
    expect((await call("GET", "/metrics", undefined, null)).status).toBe(401);
    const wrong = await call("GET", "/metrics", undefined, "scrape-token-wrong-000000");
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    expect((await call("GET", "/metrics", undefined, METRICS_TOKEN)).headers.get("content-type")).toMatch(
      /text\/plain/,
    );
    expect((await call("GET", "/metrics", undefined, key)).status).toBe(200);
    // The metrics token reads metrics only.
    expect((await call("GET", "/v1/sandboxes", undefined, METRICS_TOKEN)).status).toBe(401);
  });

  it("counts sandboxes by state, creates, wakes, requests and errors after a known workload", async () => {
    const before = await scrape();
    const created: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call("POST", "/v1/sandboxes", {});
      created.push(((await res.json()) as { id: string }).id);
    }
    const [a] = created as [string];
    expect((await call("POST", `/v1/sandboxes/${a}/pause`)).status).toBe(200);
    expect((await call("POST", `/v1/sandboxes/${a}/resume`)).status).toBe(200);
    expect((await call("POST", `/v1/sandboxes/${a}/pause`)).status).toBe(200);
    await call("GET", "/v1/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa");
    await call("POST", "/v1/sandboxes", { resources: { vcpus: 0 } });
    const after = await scrape();
    const delta = (name: string, labels = "") =>
      (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(sample(after, "burrow_sandboxes", '{state="running"}')).toBe(2);
    expect(sample(after, "burrow_sandboxes", '{state="standby"}')).toBe(1);
    expect(delta("burrow_sandbox_create_seconds_count", '{source="cold"}')).toBe(3);
    expect(delta("burrow_sandbox_wake_seconds_count", '{from="standby"}')).toBe(1);
    expect(delta("burrow_api_errors_total", '{code="sandbox_not_found"}')).toBe(1);
    expect(delta("burrow_api_errors_total", '{code="validation_failed"}')).toBe(1);
    expect(delta("burrow_http_requests_total", '{kind="api",status="201"}')).toBe(3);
    expect(after).toMatch(/^burrow_process_cpu_user_seconds_total \d/m);
    for (const id of created) await call("DELETE", `/v1/sandboxes/${id}`);
  });

  it("answers a sandbox's usage from the runtime without waking it", async () => {
    const { id } = (await (await call("POST", "/v1/sandboxes", { resources: { diskMb: 512 } })).json()) as {
      id: string;
    };
    runtime.usages.set(id, { cpuSeconds: 1.5, memoryBytes: 64 << 20, diskUsedBytes: 1 << 20 });
    expect((await call("POST", `/v1/sandboxes/${id}/pause`)).status).toBe(200);
    const res = await call("GET", `/v1/sandboxes/${id}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      sandboxId: id,
      state: "standby",
      resources: { diskMb: 512 },
      cpuSeconds: 1.5,
      memoryBytes: 64 << 20,
      diskUsedBytes: 1 << 20,
      diskTotalBytes: 512 << 20,
    });
    const info = (await (await call("GET", `/v1/sandboxes/${id}`)).json()) as { state: string };
    expect(info.state).toBe("standby");
    expect((await call("GET", "/v1/sandboxes/sb_aaaaaaaaaaaaaaaaaaaa/metrics")).status).toBe(404);
    await call("DELETE", `/v1/sandboxes/${id}`);
  });

  it("changes vcpus and grows the disk live; refuses memory, pids, a smaller disk and too many vcpus with 400", async () => {
    const { id } = (await (await call("POST", "/v1/sandboxes", { resources: { vcpus: 1, diskMb: 256 } })).json()) as {
      id: string;
    };
    const patch = (resources: Record<string, number>) => call("PATCH", `/v1/sandboxes/${id}`, { resources });
    const ok = await patch({ vcpus: 0.5, diskMb: 1024 });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { resources: unknown }).resources).toMatchObject({ vcpus: 0.5, diskMb: 1024 });
    expect(runtime.sandboxes.get(id)?.spec.resources).toMatchObject({ vcpus: 0.5, diskMb: 1024 });
    for (const [resources, field] of [
      [{ memoryMb: 4096 }, "resources.memoryMb"],
      [{ pids: 100 }, "resources.pids"],
      [{ diskMb: 512 }, "resources.diskMb"],
      [{ diskMb: 1 }, "resources.diskMb"],
      [{ vcpus: 1000 }, "resources.vcpus"],
    ] as const) {
      const res = await patch(resources);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { field: string } } };
      expect(["validation_failed", "resources_exceeded"]).toContain(body.error.code);
      expect(body.error.details.field).toBe(field);
    }
    const info = (await (await call("GET", `/v1/sandboxes/${id}`)).json()) as { resources: unknown };
    expect(info.resources).toMatchObject({ vcpus: 0.5, diskMb: 1024 });
    await call("DELETE", `/v1/sandboxes/${id}`);
  });
});
