import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";

const agent = new Agent({ keepAlive: true });

function envelope(obj) {
  const json = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/**
 * Talks to a sandbox's agent straight over TCP on the sandbox's address, bypassing the server
 * (the floor for the server's proxy). The token comes from the server's database, the address
 * from the sandbox's files.
 */
export class AgentDirect {
  constructor(dataDir, sandboxId, port = 49983) {
    const dir = join(dataDir, "sandboxes", sandboxId);
    const db = new Database(join(dataDir, "burrow.db"), { readonly: true, fileMustExist: true });
    try {
      this.token = db.prepare("SELECT agent_token FROM sandboxes WHERE id = ?").pluck().get(sandboxId);
    } finally {
      db.close();
    }
    const batch = readFileSync(join(dir, "net-ns.batch"), "utf8");
    this.host = /addr add ([\d.]+)\//.exec(batch)[1];
    this.port = port;
  }

  /** Runs a process via the envd Start stream and resolves when its end event arrives. */
  start(cmd, args) {
    const body = envelope({ process: { cmd, args } });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          path: "/process.Process/Start",
          method: "POST",
          agent,
          headers: {
            "X-Access-Token": this.token,
            "Content-Type": "application/connect+json",
            "Content-Length": body.length,
            Authorization: `Basic ${Buffer.from("user:").toString("base64")}`,
          },
        },
        (res) => {
          res.on("data", () => {});
          res.on("end", resolve);
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /** Closes the pooled connections (needed before the sandbox is checkpointed). */
  close() {
    agent.destroy();
  }
}
