import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { SandboxEvent, SandboxInfo, WebhookPayload } from "@burrow/core";
import { Sandbox, verifyWebhookSignature } from "@burrow/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

// Real gVisor: a before-hibernate command runs in a sleeping sandbox before its memory is written,
// and a webhook receiver on loopback gets the hook's event and the hibernation, signed, in order.
describe("before-hibernate hooks and webhooks", () => {
  let server: TestServer;
  let receiver: Server;
  const got: { payload: WebhookPayload; body: string; signature: string }[] = [];
  let arrived: () => void = () => undefined;

  beforeAll(async () => {
    server = await startTestServer();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        got.push({
          payload: JSON.parse(body) as WebhookPayload,
          body,
          signature: String(req.headers["burrow-signature"]),
        });
        res.writeHead(204).end();
        arrived();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  });

  afterAll(async () => {
    await server?.dispose();
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
  });

  it("runs the hook in a standby sandbox before hibernating; its output is an event and a signed delivery", async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const hookRes = await server.request("POST", "/v1/webhooks", { url, events: ["sandbox.*"] });
    expect(hookRes.status).toBe(201);
    const { secret } = (await hookRes.json()) as { secret: string };

    const res = await server.request("POST", "/v1/sandboxes", {
      lifecycle: {
        standbyAfterMs: 0,
        hibernateAfterMs: 0,
        beforeHibernate: {
          command: 'echo "flushed $(cat /tmp/state)" > /home/user/flushed; echo hook ran as $(whoami)',
        },
      },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as SandboxInfo;
    const sandbox = await Sandbox.connect(id, { apiUrl: server.url, apiKey: server.apiKey });
    // State only in memory (/tmp), saved by the hook.
    await sandbox.commands.run("echo 42 > /tmp/state");
    expect((await sandbox.pause()).state).toBe("standby");
    expect((await sandbox.hibernate()).state).toBe("hibernated");

    const events = (await (await server.request("GET", `/v1/sandboxes/${id}/events`)).json()) as {
      events: SandboxEvent[];
    };
    const hook = events.events.find((e) => e.type === "before_hibernate");
    expect(hook?.reason).toContain("exited 0");
    expect(hook?.reason).toContain("hook ran as user");
    const order = events.events.map((e) => e.type);
    expect(order.lastIndexOf("before_hibernate")).toBeLessThan(order.lastIndexOf("hibernated"));
    // Woken by the read: the file the hook wrote is there.
    expect((await sandbox.files.read("/home/user/flushed")).trim()).toBe("flushed 42");

    // The receiver saw the hook's event before the hibernation, each signed with the secret.
    const names = () => got.filter((g) => g.payload.sandboxId === id).map((g) => g.payload.event);
    while (!names().includes("sandbox.hibernated")) await new Promise<void>((r) => (arrived = r));
    expect(names().indexOf("sandbox.before_hibernate")).toBeLessThan(names().indexOf("sandbox.hibernated"));
    for (const g of got) expect(await verifyWebhookSignature(secret, g.signature, g.body)).toBe(true);
    await sandbox.kill();
  });

  it("refuses a bad hook with 400", async () => {
    for (const beforeHibernate of [{ command: "" }, { command: "true", timeoutMs: 10 }, { cmd: "true" }]) {
      const res = await server.request("POST", "/v1/sandboxes", { lifecycle: { beforeHibernate } });
      expect(res.status, JSON.stringify(beforeHibernate)).toBe(400);
    }
  });
});
