import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, ServiceProcess } from "./process.js";

/**
 * A throwaway PostgreSQL server from Debian's `postgresql` package, for tests: its own cluster
 * (initdb) in a temp dir, its own TCP port on 127.0.0.1, its unix socket in that temp dir.
 */
export interface PostgresService {
  /** `postgres://burrow:<password>@127.0.0.1:<port>/burrow` */
  url: string;
  port: number;
  /** Directory of the unix socket (`psql -h <socketDir> -p <port> -U burrow`, no password). */
  socketDir: string;
  /** The PostgreSQL bin directory (psql, createdb, …). */
  binDir: string;
  /** Stops the server (by PID) and removes its directory. */
  stop(): Promise<void>;
}

/** The system account the server runs as when the tests run as root (PostgreSQL refuses root). */
export const POSTGRES_USER = "postgres";
const READY_TIMEOUT_MS = 180_000;

/** BURROW_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout). */
export async function postgresBinDir(): Promise<string> {
  if (process.env.BURROW_PG_BIN) return process.env.BURROW_PG_BIN;
  const versions = (await readdir("/usr/lib/postgresql").catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin): run scripts/setup-host.sh");
  }
  return join("/usr/lib/postgresql", newest, "bin");
}

/** A TCP port on 127.0.0.1 free at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function accountIds(name: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run("id", ["-u", name])).stdout.trim());
  const gid = Number((await run("id", ["-g", name])).stdout.trim());
  return { uid, gid };
}

/**
 * An initdb'd cluster directory for this PostgreSQL version and account, made once per host in
 * the temp dir (built aside and renamed into place, so it is complete or absent) and copied for
 * each start: initdb costs about two seconds of CPU, a copy a tenth of that.
 */
async function clusterTemplate(
  binDir: string,
  account: { uid: number; gid: number } | undefined,
  env: Record<string, string>,
): Promise<string> {
  const banner = (await run(join(binDir, "postgres"), ["--version"], { env })).stdout;
  const version = /\d+(\.\d+)*/.exec(banner)?.[0] ?? "unknown";
  const path = join(tmpdir(), `burrow-pg-template-v1-${version}-${account?.uid ?? process.getuid?.() ?? 0}`);
  if (existsSync(join(path, "PG_VERSION"))) return path;
  const building = await mkdtemp(`${path}.`);
  try {
    if (account) await chown(building, account.uid, account.gid);
    const data = join(building, "data");
    await run(
      join(binDir, "initdb"),
      [
        "-D",
        data,
        "-U",
        "burrow",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-sync",
        "--no-instructions",
      ],
      { ...(account ?? {}), env, cwd: building, timeout: READY_TIMEOUT_MS },
    );
    await rename(data, path).catch(() => undefined); // another start may have won the race
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  if (!existsSync(join(path, "PG_VERSION"))) throw new Error(`could not prepare ${path}`);
  return path;
}

/** Starts a fresh cluster with database `burrow` owned by superuser `burrow`. */
export async function startPostgres(): Promise<PostgresService> {
  const binDir = await postgresBinDir();
  // As root, initdb and postgres run as the `postgres` account; otherwise as the current user.
  const account = process.getuid?.() === 0 ? await accountIds(POSTGRES_USER) : undefined;
  const dir = await mkdtemp(join(tmpdir(), "burrow-pg-"));
  let server: ServiceProcess | undefined;
  try {
    if (account) await chown(dir, account.uid, account.gid);
    const password = randomBytes(12).toString("hex");
    const data = join(dir, "data");
    const asAccount = account ? { uid: account.uid, gid: account.gid } : {};
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" };
    await run("cp", ["-a", await clusterTemplate(binDir, account, env), data], { timeout: READY_TIMEOUT_MS });
    const port = await freePort();
    server = ServiceProcess.start(
      "postgres",
      [
        join(binDir, "postgres"),
        "-D",
        data,
        "-p",
        String(port),
        "-k",
        dir,
        "-c",
        "listen_addresses=127.0.0.1",
        // A test database: durability is not wanted, speed is.
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
      ],
      { ...asAccount, env, cwd: dir },
    );
    await server.waitFor("stderr", /database system is ready to accept connections/, READY_TIMEOUT_MS);
    const socket = ["-h", dir, "-p", String(port), "-U", "burrow"];
    await run(
      join(binDir, "psql"),
      [...socket, "-X", "-q", "-d", "postgres", "-c", `ALTER ROLE burrow PASSWORD '${password}'`],
      {
        env,
        timeout: READY_TIMEOUT_MS,
      },
    );
    await run(join(binDir, "createdb"), [...socket, "burrow"], { env, timeout: READY_TIMEOUT_MS });
    const started = server;
    return {
      url: `postgres://burrow:${password}@127.0.0.1:${port}/burrow`,
      port,
      socketDir: dir,
      binDir,
      async stop() {
        try {
          // SIGINT is PostgreSQL's fast shutdown: it ends sessions and stops at once.
          await started.stop("SIGINT");
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await server?.stop("SIGINT");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
