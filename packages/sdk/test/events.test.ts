import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestBurrow } from "../../../tests/helpers/burrow.js";
import { AuthenticationError, parseMessage, Sandbox, type SandboxEventMessage, watchEvents } from "../src/index.js";

const fake = new TestBurrow();
let opts: { apiUrl: string; apiKey: string };

beforeAll(async () => {
  opts = { apiUrl: await fake.start(), apiKey: fake.apiKey };
});
afterAll(async () => {
  await fake.close();
});

describe("watchEvents", () => {
  it("delivers each lifecycle event with the sandbox after it, until aborted", async () => {
    const controller = new AbortController();
    const messages: SandboxEventMessage[] = [];
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    let hibernated!: () => void;
    const sawHibernated = new Promise<void>((resolve) => {
      hibernated = resolve;
    });
    const done = watchEvents({
      ...opts,
      signal: controller.signal,
      onOpen: opened,
      onMessage: (m) => {
        messages.push(m);
        if (m.event.type === "hibernated") hibernated();
      },
    });
    try {
      await open;
      const sandbox = await Sandbox.create(opts);
      await sandbox.hibernate();
      await sawHibernated;
      const mine = messages.filter((m) => m.event.sandboxId === sandbox.sandboxId);
      expect(mine.map((m) => m.event.type)).toEqual(expect.arrayContaining(["created", "hibernating", "hibernated"]));
      expect(mine.at(-1)?.sandbox?.state).toBe("hibernated");
      await sandbox.kill();
    } finally {
      controller.abort();
    }
    await expect(done).resolves.toBeUndefined();
  });

  it("rejects a wrong key with AuthenticationError", async () => {
    await expect(watchEvents({ ...opts, apiKey: "burrow_wrong", onMessage: () => undefined })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it("parses sandbox messages and skips comments and other events", () => {
    expect(parseMessage(": ping")).toBeUndefined();
    expect(parseMessage('event: other\ndata: {"x":1}')).toBeUndefined();
    const message = parseMessage('id: 3\nevent: sandbox\ndata: {"event":{"id":3},"sandbox":null}');
    expect(message?.event.id).toBe(3);
    expect(message?.sandbox).toBeNull();
  });
});
