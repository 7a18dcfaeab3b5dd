import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { ServiceProcess } from "./process.js";

/**
 * A real S3 service for tests: OpenStack Swift (Debian's swift-proxy, swift-account,
 * swift-container and swift-object) with its s3api middleware and tempauth, one replica on a
 * plain directory, on 127.0.0.1. tests/services/swift-aio.py serves the four Swift apps in one
 * Python process (a sixth of the CPU four processes take to start).
 */
export interface S3Service {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `s3://<bucket>?endpoint=…&region=…` for BURROW_BLOB_URL (credentials go in the AWS_* env). */
  blobUrl(bucket: string, prefix?: string): string;
  /** An AWS SDK client for this service (path-style addressing); the caller destroys it. */
  client(): S3Client;
  /** Creates a bucket (idempotent) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** Stops Swift (by PID) and removes its configuration and storage. */
  stop(): Promise<void>;
}

export const SWIFT_PYTHON = "/usr/bin/python3";
const LAUNCHER = join(import.meta.dirname, "swift-aio.py");
const REGION = "us-east-1";
const READY_TIMEOUT_MS = 180_000;

/** Writes swift.conf and the four servers' paste.deploy files into `dir`. */
async function writeConfig(dir: string, account: string, user: string, key: string): Promise<void> {
  const devices = join(dir, "node");
  await mkdir(join(devices, "d1"), { recursive: true });
  const common = [`swift_dir = ${dir}`, `log_address = ${join(dir, "log.sock")}`, "log_level = WARNING"];
  await writeFile(
    join(dir, "swift.conf"),
    [
      "[swift-hash]",
      `swift_hash_path_suffix = ${randomBytes(8).toString("hex")}`,
      "[storage-policy:0]",
      "name = Policy-0",
      "default = yes",
      "",
    ].join("\n"),
  );
  for (const server of ["account", "container", "object"]) {
    await writeFile(
      join(dir, `${server}-server.conf`),
      [
        "[DEFAULT]",
        ...common,
        `devices = ${devices}`,
        // Storage is a plain directory, not a mounted disk.
        "mount_check = false",
        "[pipeline:main]",
        `pipeline = ${server}-server`,
        `[app:${server}-server]`,
        `use = egg:swift#${server}`,
        "",
      ].join("\n"),
    );
  }
  await writeFile(
    join(dir, "proxy-server.conf"),
    [
      "[DEFAULT]",
      ...common,
      "bind_port = 0",
      "[pipeline:main]",
      "pipeline = catch_errors gatekeeper proxy-logging s3api tempauth slo dlo proxy-logging proxy-server",
      "[app:proxy-server]",
      "use = egg:swift#proxy",
      "account_autocreate = true",
      "[filter:s3api]",
      "use = egg:swift#s3api",
      `location = ${REGION}`,
      "[filter:tempauth]",
      "use = egg:swift#tempauth",
      // The S3 access key is "<account>:<user>", the secret the user's key.
      `user_${account}_${user} = ${key} .admin`,
      "[filter:slo]",
      "use = egg:swift#slo",
      "[filter:dlo]",
      "use = egg:swift#dlo",
      "[filter:catch_errors]",
      "use = egg:swift#catch_errors",
      "[filter:gatekeeper]",
      "use = egg:swift#gatekeeper",
      "[filter:proxy-logging]",
      "use = egg:swift#proxy_logging",
      "",
    ].join("\n"),
  );
}

/** Starts Swift with s3api on a free port of 127.0.0.1. */
export async function startS3(): Promise<S3Service> {
  const dir = await mkdtemp(join(tmpdir(), "burrow-swift-"));
  let swift: ServiceProcess | undefined;
  try {
    const secretAccessKey = randomBytes(16).toString("hex");
    await writeConfig(dir, "burrow", "tester", secretAccessKey);
    swift = ServiceProcess.start("swift", [SWIFT_PYTHON, LAUNCHER, dir], {
      cwd: dir,
      // eventlet's green DNS resolver costs a third of the start-up and is not needed on loopback.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", EVENTLET_NO_GREENDNS: "yes", PYTHONDONTWRITEBYTECODE: "1" },
    });
    const ready = await swift.waitFor("stdout", /\{"proxyPort": (\d+)\}/, READY_TIMEOUT_MS);
    const endpoint = `http://127.0.0.1:${ready[1]}`;
    const accessKeyId = "burrow:tester";
    const started = swift;
    const client = () =>
      new S3Client({
        endpoint,
        region: REGION,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      });
    return {
      endpoint,
      region: REGION,
      accessKeyId,
      secretAccessKey,
      blobUrl: (bucket, prefix) =>
        `s3://${bucket}/${prefix ?? ""}?${new URLSearchParams({ endpoint, region: REGION }).toString()}`,
      client,
      async createBucket(name = `burrow-${randomBytes(4).toString("hex")}`) {
        const s3 = client();
        try {
          await s3.send(new CreateBucketCommand({ Bucket: name }));
        } catch (err) {
          if ((err as { name?: string }).name !== "BucketAlreadyOwnedByYou") throw err;
        } finally {
          s3.destroy();
        }
        return name;
      },
      async stop() {
        try {
          await started.stop("SIGTERM");
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await swift?.stop("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
