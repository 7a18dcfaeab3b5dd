import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { buildOciSpec, SandboxNetwork, SpawnRunner, sandboxAddresses, writeAgentToken } from "@burrow/runtime";

const RUNSC_TIMEOUT_MS = 60_000;
const AGENT_PORT = 49983;
/** The flags GvisorRuntime passes to every runsc call. */
export const RUNSC_FLAGS = ["--platform=systrap", "--network=sandbox", "--net-disconnect-ok", "--overlay2=none"];

/** A fixed-length id like Burrow's (`sb_` + 20 chars); runsc matches ids by prefix. */
export function rawId() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return `rw_${[...randomBytes(20)].map((b) => alphabet[b % alphabet.length]).join("")}`;
}

/** Runs a command with a timeout; resolves { code, stdout, stderr } (never rejects on exit code). */
function run(argv, { timeoutMs = RUNSC_TIMEOUT_MS, stdio = "pipe" } = {}) {
  return new Promise((resolve) => {
    if (stdio === "null") {
      // For commands that leave a sandbox behind: its processes must not inherit our pipes.
      const child = spawn(argv[0], argv.slice(1), { stdio: "ignore", timeout: timeoutMs, killSignal: "SIGKILL" });
      child.on("error", (e) => resolve({ code: 127, stdout: "", stderr: String(e) }));
      child.on("exit", (code, signal) =>
        resolve({ code: code ?? 128, stdout: "", stderr: signal ? `killed by ${signal}` : "" }),
      );
      return;
    }
    execFile(
      argv[0],
      argv.slice(1),
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof err.code === "number" ? err.code : 128) : 0,
          stdout,
          stderr: stderr || (err ? String(err) : ""),
        });
      },
    );
  });
}

/**
 * Raw runsc, driven directly with the same flags, template, OCI spec and network plumbing
 * (namespace + veth, gVisor netstack) as Burrow's GvisorRuntime, with the Burrow agent as PID 1
 * but no server, no SQLite, no shim: the floor Burrow is measured against. Only the runsc
 * invocations themselves (plus the `nsenter … unshare` wrapper that runsc needs here to start a
 * networked sandbox) are timed by the suites; mounts and namespaces are set up around them.
 */
export class RawRunsc {
  constructor(baseDir, templateRootfs, agentBinaryPath, { networkPrefix = "10.252" } = {}) {
    this.baseDir = baseDir;
    this.templateRootfs = templateRootfs;
    this.agentBinaryPath = agentBinaryPath;
    this.networkPrefix = networkPrefix;
    this.stateDir = join(baseDir, "runsc");
    mkdirSync(this.stateDir, { recursive: true });
    this.runner = new SpawnRunner();
    this.network = new SandboxNetwork(this.runner);
    this.nextIndex = 0;
    /** id → network index, for every sandbox not yet destroyed. */
    this.sandboxes = new Map();
  }

  argv(args) {
    return ["runsc", `--root=${this.stateDir}`, ...RUNSC_FLAGS, ...args];
  }

  async runsc(args, what = args[0]) {
    const r = await run(this.argv(args));
    if (r.code !== 0)
      throw new Error(`runsc ${what} failed (${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    return r.stdout;
  }

  addr(id) {
    return sandboxAddresses(id, this.sandboxes.get(id), this.networkPrefix);
  }

  dir(id) {
    return join(this.baseDir, id);
  }

  /** Overlay mount, network namespace and bundle: everything `runsc run` needs. Not timed. */
  async prepare(id, { args } = {}) {
    const dir = this.dir(id);
    for (const d of ["upper", "work", "rootfs", "bundle", "run"]) mkdirSync(join(dir, d), { recursive: true });
    this.sandboxes.set(id, this.nextIndex++);
    const mount = await run([
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${this.templateRootfs},upperdir=${dir}/upper,workdir=${dir}/work`,
      `${dir}/rootfs`,
    ]);
    if (mount.code !== 0) throw new Error(`mount failed: ${mount.stderr}`);
    mkdirSync(join(dir, "rootfs", "tmp"), { recursive: true, mode: 0o1777 });
    const addr = this.addr(id);
    await this.network.setup(addr, dir);
    const spec = buildOciSpec({
      id,
      rootfsPath: `${dir}/rootfs`,
      runDirPath: `${dir}/run`,
      agentBinaryPath: this.agentBinaryPath,
      resources: { vcpus: 2, memoryMb: 2048, pids: 4096 },
      agentPort: AGENT_PORT,
      netns: addr.netns,
    });
    if (args) spec.process.args = args;
    writeFileSync(join(dir, "bundle", "config.json"), JSON.stringify(spec));
  }

  /** `runsc run --detach` inside the sandbox's network namespace. */
  async start(id) {
    await writeAgentToken(`${this.dir(id)}/run`, "rawbench");
    const r = await run(
      SandboxNetwork.inNamespace(this.addr(id), this.argv(["run", "--detach", `--bundle=${this.dir(id)}/bundle`, id])),
      { stdio: "null" },
    );
    if (r.code !== 0) throw new Error(`runsc run exited ${r.code} ${r.stderr}`);
  }

  async create(id, opts) {
    await this.prepare(id, opts);
    await this.start(id);
  }

  async exec(id, argv) {
    return this.runsc(["exec", id, ...argv], "exec");
  }

  /**
   * Starts a process in the sandbox without waiting for it: `runsc exec` of a shell that puts it
   * in the background (`runsc exec --detach` waits 10 s for a pid file here and then fails).
   */
  async execBackground(id, argv) {
    const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const r = await run(this.argv(["exec", id, "/bin/sh", "-c", `${quoted} </dev/null >/dev/null 2>&1 &`]), {
      stdio: "null",
    });
    if (r.code !== 0) throw new Error(`runsc exec exited ${r.code}`);
  }

  pause(id) {
    return this.runsc(["pause", id]);
  }

  resume(id) {
    return this.runsc(["resume", id]);
  }

  async state(id) {
    const r = await run(this.argv(["state", id]));
    if (r.code !== 0) return "absent";
    return JSON.parse(r.stdout).status;
  }

  /** Bare `runsc checkpoint`, compressed as the Burrow server under test compresses; the sandbox stops. */
  async checkpoint(id, imageDir) {
    mkdirSync(imageDir, { recursive: true });
    const compression = process.env.BURROW_CHECKPOINT_COMPRESSION ?? "flate-best-speed";
    await this.runsc(["checkpoint", `--compression=${compression}`, `--image-path=${imageDir}`, id], "checkpoint");
  }

  /** After a checkpoint: wait for the stopped state and drop runsc's record so the id can be restored. */
  async afterCheckpoint(id) {
    for (let i = 0; i < 2000; i++) {
      const st = await this.state(id);
      if (st === "stopped" || st === "absent") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    await run(this.argv(["delete", "--force", id]));
    // gVisor took eth0's address from the kernel; it must be there again for a restore.
    await this.network.readdAddress(this.addr(id));
  }

  /** Bare `runsc restore --detach` inside the network namespace. */
  async restore(id, imageDir) {
    const r = await run(
      SandboxNetwork.inNamespace(
        this.addr(id),
        this.argv(["restore", "--detach", `--image-path=${imageDir}`, `--bundle=${this.dir(id)}/bundle`, id]),
      ),
      { stdio: "null" },
    );
    if (r.code !== 0) throw new Error(`runsc restore exited ${r.code} ${r.stderr}`);
  }

  /** One GET /health to the agent on a fresh connection that is closed right after. */
  agentHealth(id, timeoutMs = 1000) {
    const { sandboxIp } = this.addr(id);
    return new Promise((resolve) => {
      const req = request(
        {
          host: sandboxIp,
          port: AGENT_PORT,
          path: "/health",
          agent: false,
          headers: { Connection: "close" },
          timeout: timeoutMs,
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(0));
      req.end();
    });
  }

  /**
   * Starts a process through the agent (envd Start, as root), as Burrow's start commands
   * do: a child of the agent, which a checkpoint keeps. Resolves at the start event; the stream is
   * closed then and the process runs on.
   */
  startViaAgent(id, cmd, args) {
    const json = Buffer.from(JSON.stringify({ process: { cmd, args }, stdin: false }));
    const frame = Buffer.alloc(5 + json.length);
    frame.writeUInt32BE(json.length, 1);
    json.copy(frame, 5);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.addr(id).sandboxIp,
          port: AGENT_PORT,
          method: "POST",
          path: "/process.Process/Start",
          agent: false,
          headers: {
            "X-Access-Token": "rawbench",
            "Content-Type": "application/connect+json",
            "Content-Length": frame.length,
            Authorization: `Basic ${Buffer.from("root:").toString("base64")}`,
          },
        },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`process start: HTTP ${res.statusCode}`));
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on("error", reject);
      req.end(frame);
    });
  }

  /** Polls the agent until it answers (the same short poll as Burrow's HttpAgentClient.waitReady). */
  async waitAgent(id, timeoutMs = 15_000) {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const status = await this.agentHealth(id);
      if (status >= 200 && status < 300) return;
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`raw sandbox ${id}: agent did not answer in ${timeoutMs} ms`);
  }

  /** Like SandboxNetwork.waitConnectionsClosed: no host connection to the sandbox may be open at a checkpoint. */
  async waitNoConnections(id, timeoutMs = 5000) {
    if ((await this.network.waitConnectionsClosed(this.addr(id), timeoutMs)).length > 0) {
      throw new Error(`raw sandbox ${id} still has open connections`);
    }
  }

  freezerState(id) {
    return join("/sys/fs/cgroup/freezer/burrow", id, "freezer.state");
  }

  /** Cgroup v1 freezer: FROZEN and wait until it is. */
  async freeze(id) {
    writeFileSync(this.freezerState(id), "FROZEN");
    while (readFileSync(this.freezerState(id), "utf8").trim() !== "FROZEN") await new Promise((r) => setTimeout(r, 1));
  }

  thaw(id) {
    writeFileSync(this.freezerState(id), "THAWED");
  }

  /** Plain `runsc kill` + `runsc delete`, as a user would do by hand, then the host resources. */
  async destroy(id) {
    if (!this.sandboxes.has(id)) return;
    try {
      if (existsSync(this.freezerState(id)) && readFileSync(this.freezerState(id), "utf8").trim() !== "THAWED")
        this.thaw(id);
    } catch {}
    await run(this.argv(["kill", id, "KILL"]));
    for (let i = 0; i < 300; i++) {
      const r = await run(this.argv(["delete", id]));
      if (r.code === 0 || /not exist|cannot load/i.test(r.stderr)) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    await run(this.argv(["delete", "--force", id]));
    await this.releaseHost(id);
  }

  async releaseHost(id) {
    const rootfs = join(this.dir(id), "rootfs");
    const u = await run(["umount", rootfs]);
    if (u.code !== 0 && !/not mounted|no mount point|No such file/i.test(u.stderr)) await run(["umount", "-l", rootfs]);
    await this.network.teardown(this.addr(id)).catch(() => {});
    rmSync(this.dir(id), { recursive: true, force: true });
    this.sandboxes.delete(id);
  }

  /** Removes every sandbox this driver created that is still around (force), then the base dir. */
  async cleanupAll() {
    const list = await run(this.argv(["list", "--format=json"]));
    for (const c of JSON.parse(list.stdout || "[]") ?? []) await run(this.argv(["delete", "--force", c.id]));
    for (const id of [...this.sandboxes.keys()]) {
      try {
        if (existsSync(this.freezerState(id))) this.thaw(id);
      } catch {}
      await run(this.argv(["delete", "--force", id]));
      await this.releaseHost(id);
    }
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}
