import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkMountPath } from "../src/volumes/volume-service.js";
import { type FakeServer, startFakeServer } from "./fake-server.js";

describe("volumes API (fake runtime)", () => {
  let s: FakeServer;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${s.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${s.key}`, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

  beforeAll(async () => {
    s = await startFakeServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it("creates, lists, gets and deletes a volume; names are unique", async () => {
    const res = await call("POST", "/v1/volumes", { name: "cache", sizeBytes: 64 * 1024 * 1024 });
    expect(res.status).toBe(201);
    const vol = await json(res);
    expect(vol).toMatchObject({ name: "cache", sizeBytes: 64 * 1024 * 1024, mountedBy: [] });
    expect(String(vol.id)).toMatch(/^vol_[a-z2-7]{20}$/);
    expect((await call("POST", "/v1/volumes", { name: "cache" })).status).toBe(409);
    expect(((await json(await call("GET", "/v1/volumes"))).volumes as unknown[]).length).toBe(1);
    expect((await json(await call("GET", "/v1/volumes/cache"))).id).toBe(vol.id);
    expect((await call("DELETE", `/v1/volumes/${vol.id}`)).status).toBe(204);
    const gone = await call("GET", `/v1/volumes/${vol.id}`);
    expect(gone.status).toBe(404);
    expect(((await json(gone)).error as { code: string }).code).toBe("volume_not_found");
    expect((await call("DELETE", "/v1/volumes/cache")).status).toBe(404);
  });

  it("refuses bad names and sizes with 400", async () => {
    for (const body of [
      { name: "Bad Name" },
      { name: "" },
      { name: "ok", sizeBytes: 1 },
      { name: "ok", sizeBytes: 1.5 },
    ]) {
      expect((await call("POST", "/v1/volumes", body)).status).toBe(400);
    }
  });

  it("checks mount paths: absolute, not over / or the system's and Burrow's folders", () => {
    expect(checkMountPath("/data/", "p")).toBe("/data");
    expect(checkMountPath("/home/user/cache", "p")).toBe("/home/user/cache");
    for (const bad of [
      "data",
      "/",
      "/proc",
      "/proc/x",
      "/dev/shm",
      "/sys",
      "/opt/burrow",
      "/opt/burrow/run",
      "/a/../b",
      "/tmp",
    ]) {
      expect(() => checkMountPath(bad, "p")).toThrow(/invalid request/);
    }
  });

  it("mounts at create: 400 for bad paths, 404 for unknown volumes; 409 naming the sandboxes on delete", async () => {
    await call("POST", "/v1/volumes", { name: "shared" });
    for (const path of ["relative", "/", "/proc", "/dev", "/opt/burrow/x"]) {
      const res = await call("POST", "/v1/sandboxes", { volumes: [{ name: "shared", path }] });
      expect(res.status).toBe(400);
    }
    const dup = await call("POST", "/v1/sandboxes", {
      volumes: [
        { name: "shared", path: "/a" },
        { name: "shared", path: "/a/b" },
      ],
    });
    expect(dup.status).toBe(400);
    const unknown = await call("POST", "/v1/sandboxes", { volumes: [{ name: "nope", path: "/data" }] });
    expect(unknown.status).toBe(404);
    expect(((await json(unknown)).error as { code: string }).code).toBe("volume_not_found");
    expect(s.runtime.sandboxes.size).toBe(0);

    const sb = await json(
      await call("POST", "/v1/sandboxes", { volumes: [{ name: "shared", path: "/data", readOnly: true }] }),
    );
    const spec = s.runtime.sandboxes.get(String(sb.id))?.spec;
    expect(spec?.binds).toEqual([
      { source: expect.stringMatching(/volumes\/vol_\w+\/root$/), destination: "/data", readOnly: true },
    ]);
    const snap = await call("POST", "/v1/templates/snap/from-sandbox", { sandboxId: sb.id });
    expect(snap.status).toBe(400);
    expect(JSON.stringify(await json(snap))).toContain("mounts volumes");
    const del = await call("DELETE", "/v1/volumes/shared");
    expect(del.status).toBe(409);
    const body = await json(del);
    expect(JSON.stringify(body)).toContain(String(sb.id));
    expect((await json(await call("GET", "/v1/volumes/shared"))).mountedBy).toEqual([sb.id]);
    expect((await call("DELETE", `/v1/sandboxes/${sb.id}`)).status).toBe(204);
    expect((await call("DELETE", "/v1/volumes/shared")).status).toBe(204);
  });

  it("files API: write, read, list, stat, mkdir, chmod, remove; '..' and symlinks are 400", async () => {
    const vol = await json(await call("POST", "/v1/volumes", { name: "files" }));
    const base = `/v1/volumes/${vol.id}`;
    const put = await call("PUT", `${base}/file?path=/a/b/hello.txt&mode=${0o600}`, "hello", {
      "content-type": "application/octet-stream",
    });
    expect(put.status).toBe(201);
    expect(await json(put)).toMatchObject({
      name: "hello.txt",
      path: "/a/b/hello.txt",
      type: "file",
      size: 5,
      mode: 0o600,
    });
    expect(await (await call("GET", `${base}/file?path=a/b/hello.txt`)).text()).toBe("hello");
    const list = (await json(await call("GET", `${base}/dir?path=/&depth=3`))).entries as Array<{ path: string }>;
    expect(list.map((e) => e.path)).toEqual(["/a", "/a/b", "/a/b/hello.txt"]);
    expect((await call("POST", `${base}/dir?path=/x/y`)).status).toBe(404);
    expect((await call("POST", `${base}/dir?path=/x/y&force=true`)).status).toBe(201);
    const patched = await call("PATCH", `${base}/path?path=/x`, { mode: 0o700 });
    expect((await json(patched)).mode).toBe(0o700);
    expect((await call("GET", `${base}/path?path=/missing`)).status).toBe(404);

    // A link a sandbox could have left, pointing out of the volume: listed, never followed.
    const root = join(s.dataDir, "volumes", String(vol.id), "root");
    const outside = join(s.dataDir, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), "host file");
    symlinkSync(outside, join(root, "escape"));
    symlinkSync(join(outside, "secret"), join(root, "secret-link"));
    expect((await json(await call("GET", `${base}/path?path=/escape`))).type).toBe("symlink");
    for (const [method, path, body] of [
      ["GET", `${base}/file?path=/escape/secret`],
      ["GET", `${base}/file?path=/secret-link`],
      ["GET", `${base}/dir?path=/escape`],
      ["PUT", `${base}/file?path=/escape/new`, "x"],
      ["PUT", `${base}/file?path=/secret-link`, "x"],
      ["POST", `${base}/dir?path=/escape/d`],
      ["DELETE", `${base}/path?path=/escape/secret`],
      ["PATCH", `${base}/path?path=/secret-link`, { mode: 0o777 }],
      ["GET", `${base}/file?path=/../outside/secret`],
      ["GET", `${base}/dir?path=/a/../..`],
    ] as Array<[string, string, unknown?]>) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(400);
    }
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("host file");
    // Removing the link removes the link only.
    expect((await call("DELETE", `${base}/path?path=/escape`)).status).toBe(204);
    expect(existsSync(join(outside, "secret"))).toBe(true);
    expect((await call("DELETE", `${base}/path?path=/a`)).status).toBe(204);
    expect((await call("GET", `${base}/path?path=/a`)).status).toBe(404);
    expect((await call("DELETE", `${base}/path?path=/`)).status).toBe(400);
  });

  it("serves E2B's volume API: token-authenticated content routes", async () => {
    const created = await call("POST", "/volumes", { name: "e2b-vol" }, { "x-api-key": s.key });
    expect(created.status).toBe(201);
    const vol = (await created.json()) as { volumeID: string; name: string; token: string };
    expect(vol.token).toMatch(/^vt_/);
    const headers = { authorization: `Bearer ${vol.token}` };
    const put = await fetch(`${s.server.url}/volumecontent/${vol.volumeID}/file?path=/x.txt`, {
      method: "PUT",
      headers,
      body: "data",
    });
    expect(put.status).toBe(201);
    const list = await fetch(`${s.server.url}/volumecontent/${vol.volumeID}/dir?path=/`, { headers });
    expect(((await list.json()) as Array<{ name: string }>).map((e) => e.name)).toEqual(["x.txt"]);
    const wrong = await fetch(`${s.server.url}/volumecontent/${vol.volumeID}/dir?path=/`, {
      headers: { authorization: "Bearer vt_nope" },
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { code: number }).code).toBe(401);
    expect((await call("DELETE", `/volumes/${vol.volumeID}`, undefined, { "x-api-key": s.key })).status).toBe(204);
  });
});
