import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestBurrow } from "../../../tests/helpers/burrow.js";
import { type HttpMcpServer, serveHttp } from "../src/index.js";
import { callTool } from "./helpers.js";

const fake = new TestBurrow();
let mcp: HttpMcpServer;

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
};

function post(headers: Record<string, string>, body: unknown = initialize, url = mcp.url): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  await fake.start();
  mcp = await serveHttp({ port: 0, connection: { apiUrl: fake.url } });
});
afterAll(async () => {
  await mcp.close();
  await fake.close();
});

describe("Streamable HTTP transport", () => {
  it("listens on 127.0.0.1 at /mcp", () => {
    expect(mcp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  it("answers 401 without a bearer key or with one Burrow rejects", async () => {
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toContain("Bearer");
    expect(await missing.text()).toContain("Authorization: Bearer");
    const wrong = await post({ Authorization: "Bearer not-the-key" });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("Burrow rejected the API key");
  });

  it("rejects requests without a session that are not initialize, and unknown paths", async () => {
    const auth = { Authorization: `Bearer ${fake.apiKey}` };
    expect((await post(auth, { jsonrpc: "2.0", id: 1, method: "tools/list" })).status).toBe(400);
    expect((await post(auth, initialize, mcp.url.replace("/mcp", "/other"))).status).toBe(404);
    expect((await post({ ...auth, "Mcp-Session-Id": "nope" })).status).toBe(404);
  });

  it("serves a session with the client's key and refuses another key on it", async () => {
    const transport = new StreamableHTTPClientTransport(new URL(mcp.url), {
      requestInit: { headers: { Authorization: `Bearer ${fake.apiKey}` } },
    });
    const client = new Client({ name: "test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const created = await callTool(client, "sandbox_create", {});
      expect(created.isError, created.text).toBe(false);
      const sessionId = transport.sessionId as string;
      expect(sessionId).toBeTruthy();
      const hijack = await post(
        { Authorization: "Bearer other", "Mcp-Session-Id": sessionId, "Mcp-Protocol-Version": "2025-06-18" },
        { jsonrpc: "2.0", id: 9, method: "tools/list" },
      );
      expect(hijack.status).toBe(401);
      expect((await callTool(client, "sandbox_list", {})).isError).toBe(false);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });
});
