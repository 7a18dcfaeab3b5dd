/**
 * The real Burrow server for component tests of its clients (SDK, CLI, MCP): the server's own app,
 * SQLite and services on a fake runtime (packages/server/test/fake-server.ts), with every fake
 * sandbox's agent played by a scripted envd (fake-envd.ts). Clients talk to it over HTTP only;
 * this helper lives outside the packages so that no client package depends on the server.
 */
import { FakeRuntime } from "@burrow/runtime";
import { type FakeServer, startFakeServer } from "../../packages/server/test/fake-server.js";
import { FakeEnvd } from "./fake-envd.js";

export class TestBurrow {
  /** The agent side: what the envd proxy forwarded, and the fake sandbox's files and processes. */
  readonly envd = new FakeEnvd();
  private fake: FakeServer | undefined;
  url = "";
  apiKey = "";

  async start(): Promise<string> {
    const runtime = new FakeRuntime();
    runtime.agentPort = await this.envd.start();
    this.fake = await startFakeServer({}, undefined, { runtime });
    this.url = this.fake.server.url;
    this.apiKey = this.fake.key;
    return this.url;
  }

  get requests() {
    return this.envd.requests;
  }

  get files() {
    return this.envd.files;
  }

  get processes() {
    return this.envd.processes;
  }

  async close(): Promise<void> {
    await this.fake?.close();
    await this.envd.close();
  }
}
