import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger } from "@burrow/core";
import { type AgentEndpoint, FakeRuntime } from "@burrow/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { HttpAgentClient } from "../src/services/agent-client.js";
import { AgentConnections } from "../src/services/agent-connections.js";
import { AgentGuard } from "../src/services/agent-guard.js";
import { Transitions } from "../src/services/transitions.js";
import { openDb } from "../src/store/db.js";
import { SqliteEventStore } from "../src/store/event-store.js";
import { SqliteSandboxStore } from "../src/store/sandbox-store.js";

/** A fake runtime whose sandboxes' agent is a local HTTP server. */
class LoopbackAgentRuntime extends FakeRuntime {
  constructor(private readonly port: number) {
    super();
  }

  override agentEndpoint(): AgentEndpoint {
    return { host: "127.0.0.1", port: this.port };
  }
}

const ID = "sb_guardtestaaaaaaaaaaa";

/**
 * A stand-in agent whose token was changed from inside: it answers 401 to anything else, and
 * (unless `old`) takes a token the host provides, as the real agent reads its token file.
 */
async function lockedOutAgent(old: boolean): Promise<{ server: Server; runtime: LoopbackAgentRuntime }> {
  let token = "changed-inside";
  let runtime: LoopbackAgentRuntime | undefined;
  const server = createServer((req, res) => {
    const sent = req.headers["x-access-token"];
    const provided = runtime?.providedTokens.get(ID);
    if (sent !== token && !old && provided !== undefined) token = provided;
    res.writeHead(sent === token ? 200 : 401).end(sent === token ? "{}" : '{"code":"unauthenticated"}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  runtime = new LoopbackAgentRuntime((server.address() as AddressInfo).port);
  await runtime.create({
    id: ID,
    templateLayers: ["/nonexistent"],
    resources: { vcpus: 1, memoryMb: 256, pids: 64, diskMb: 0 },
    agentToken: "server-token",
    networkIndex: 1,
  });
  return { server, runtime };
}

// Component test: how the server takes back an agent whose token was changed from inside.
describe("agent guard", () => {
  const servers: Server[] = [];
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
    for (const s of servers.splice(0)) s.close();
  });

  const setup = async (old: boolean) => {
    const { server, runtime } = await lockedOutAgent(old);
    servers.push(server);
    const db = openDb(":memory:");
    const events = new SqliteEventStore(db);
    const restarts: string[] = [];
    const connections = new AgentConnections();
    closers.push(() => connections.close());
    const guard = new AgentGuard({
      runtime,
      agents: new HttpAgentClient(connections),
      transitions: new Transitions(new SqliteSandboxStore(db), events, silentLogger),
      logger: silentLogger,
      restart: async (id) => {
        restarts.push(id);
      },
    });
    const sandbox = { id: ID, networkIndex: 1, agentToken: "server-token" };
    return { guard, sandbox, restarts, types: async () => (await events.list(ID, 0)).map((e) => e.type), runtime };
  };

  it("hands the agent its token through the runtime and records agent_token_restored", async () => {
    const { guard, sandbox, restarts, types, runtime } = await setup(false);
    const [a, b] = await Promise.all([guard.check(sandbox), guard.check(sandbox)]);
    expect([a, b]).toEqual(["restored", "restored"]);
    expect(runtime.providedTokens.get(ID)).toBe("server-token");
    expect(await types()).toEqual(["agent_token_restored"]);
    expect(restarts).toEqual([]);
    expect(await guard.check(sandbox)).toBe("valid");
  });

  it("restarts a sandbox whose agent does not take the token back (an older agent)", async () => {
    const { guard, sandbox, restarts, types } = await setup(true);
    expect(await guard.check(sandbox)).toBe("restarted");
    expect(await types()).toEqual(["agent_locked_out"]);
    expect(restarts).toEqual([ID]);
  });
});
