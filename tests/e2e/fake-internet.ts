import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const fixture = join(import.meta.dirname, "fixtures", "fake-internet.mjs");

export interface FakeInternet {
  /** The /24's first three octets: servers are on `.2` and `.3`, the host end on `.1`. */
  net: string;
  /** The DNS server sandboxes' lookups go to (BURROW_DNS_UPSTREAM). */
  dns: string;
  /** Certificate (self-signed, for allowed.test and other.test) of the HTTPS servers. */
  certPath: string;
  stop(): void;
}

/**
 * "The internet" for egress tests: DNS, HTTP, HTTPS and TCP servers (fixtures/fake-internet.mjs)
 * in a network namespace created here, on 198.18.<n>.2 and .3, reached through the host's NAT.
 * `stop` removes the namespace, its veth, the certificate and the server process.
 */
export async function startFakeInternet(): Promise<FakeInternet> {
  const net = `198.18.${1 + ((randomBytes(1)[0] as number) % 250)}`;
  const ns = `bti-${randomBytes(3).toString("hex")}`;
  const hostIf = `bti${randomBytes(3).toString("hex")}`;
  const certDir = mkdtempSync("/tmp/bti-cert-");
  let child: ChildProcess | undefined;
  const stop = () => {
    if (child?.pid && child.exitCode === null) child.kill("SIGKILL");
    for (const args of [
      ["link", "del", hostIf],
      ["netns", "del", ns],
    ]) {
      try {
        execFileSync("ip", args, { stdio: "ignore" });
      } catch {}
    }
    rmSync(certDir, { recursive: true, force: true });
  };
  try {
    const ip = (...args: string[]) => execFileSync("ip", args);
    ip("netns", "add", ns);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", ns);
    ip("addr", "add", `${net}.1/24`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", ns, "addr", "add", `${net}.2/24`, "dev", "eth0");
    ip("-n", ns, "addr", "add", `${net}.3/24`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
    ip("-n", ns, "link", "set", "lo", "up");
    const certPath = join(certDir, "cert.pem");
    const keyPath = join(certDir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=allowed.test",
        "-addext",
        "subjectAltName=DNS:allowed.test,DNS:other.test",
        "-keyout",
        keyPath,
        "-out",
        certPath,
      ],
      { stdio: "ignore" },
    );
    const started = spawn("ip", ["netns", "exec", ns, process.execPath, fixture, net, certPath, keyPath], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child = started;
    await new Promise<void>((resolve, reject) => {
      started.stdout?.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      started.once("exit", (code) => reject(new Error(`fake internet exited ${code}`)));
    });
    return { net, dns: `${net}.2:53`, certPath, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
