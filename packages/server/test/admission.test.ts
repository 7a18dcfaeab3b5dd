import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeServer } from "./fake-server.js";

// Admission: a sandbox the host can never give what it asks is refused before anything starts.
describe("admission check on a 2-core, 24 GB host", () => {
  let fake: FakeServer;
  const create = async (body: unknown) => {
    const res = await fetch(`${fake.server.url}/v1/sandboxes`, {
      method: "POST",
      headers: { Authorization: `Bearer ${fake.key}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    fake = await startFakeServer({}, undefined, { host: { cpus: 2, memoryMb: 24_000 } });
  });

  afterAll(async () => {
    await fake.close();
  });

  it("refuses more vCPUs than cores, and more memory than RAM, with resources_exceeded naming both numbers", async () => {
    const cpus = await create({ resources: { vcpus: 64 } });
    expect(cpus.status).toBe(400);
    expect(cpus.body.error).toMatchObject({
      code: "resources_exceeded",
      details: { field: "resources.vcpus", requested: 64, host: 2 },
    });
    expect((cpus.body.error as { message: string }).message).toContain("2 cores");
    const memory = await create({ resources: { memoryMb: 262_144 } });
    expect(memory.status).toBe(400);
    expect(memory.body.error).toMatchObject({
      code: "resources_exceeded",
      details: { field: "resources.memoryMb", requested: 262_144, host: 24_000 },
    });
    // Nothing was started for either.
    expect(fake.runtime.sandboxes.size).toBe(0);
  });

  it("accepts what fits, up to the host's size (limits are ceilings, shared between sandboxes)", async () => {
    expect((await create({ resources: { vcpus: 2, memoryMb: 24_000 } })).status).toBe(201);
    expect((await create({ resources: { vcpus: 2, memoryMb: 24_000 } })).status).toBe(201);
    expect((await create({})).status).toBe(201);
  });

  it("cuts the defaults down to a small host, so a create without resources always fits", async () => {
    const small = await startFakeServer({}, undefined, { host: { cpus: 1, memoryMb: 1_024 } });
    try {
      const res = await fetch(`${small.server.url}/v1/sandboxes`, {
        method: "POST",
        headers: { Authorization: `Bearer ${small.key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ resources: { pids: 64 } }),
      });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { resources: unknown }).resources).toEqual({
        vcpus: 1,
        memoryMb: 1_024,
        pids: 64,
        diskMb: 10_240,
      });
    } finally {
      await small.close();
    }
  });
});
