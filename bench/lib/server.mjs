import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Starts the built Burrow server on a free port with a fresh data dir. */
export async function startServer() {
  const dataDir = mkdtempSync("/tmp/bb-");
  const child = spawn(process.execPath, [join(root, "packages/server/dist/main.js")], {
    env: {
      ...process.env,
      BURROW_DATA_DIR: dataDir,
      BURROW_TEMPLATES_DIR: process.env.BURROW_TEMPLATES_DIR ?? join(homedir(), ".burrow", "templates"),
      BURROW_PORT: "0",
      BURROW_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (c) => {
      out += c;
      const m = /Burrow listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  const apiKey = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
  return {
    url,
    apiKey,
    dataDir,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
