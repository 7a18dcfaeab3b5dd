import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { promisify } from "node:util";

const run = promisify(execFile);
const OPENSSL_TIMEOUT_MS = 10_000;
const CA_DAYS = 3650;
const LEAF_DAYS = 30;
/** A cached leaf certificate is re-issued after this long (well inside its validity). */
const LEAF_REISSUE_MS = 7 * 24 * 3600 * 1000;
const MAX_CACHED_LEAVES = 2_000;

async function openssl(args: string[]): Promise<string> {
  const { stdout } = await run("openssl", args, { timeout: OPENSSL_TIMEOUT_MS, maxBuffer: 1024 * 1024 });
  return stdout;
}

/**
 * The installation's egress CA (EC P-256, created with openssl on first start under
 * `<dataDir>/egress-ca`) and the leaf certificates it issues: one per host name the proxy
 * terminates TLS for, all on one leaf key, cached in memory.
 */
export class EgressCa {
  private readonly leaves = new Map<string, { issuedAt: number; context: Promise<SecureContext> }>();

  private constructor(
    private readonly dir: string,
    readonly certPem: string,
    private readonly leafKeyPem: string,
  ) {}

  static async load(dir: string): Promise<EgressCa> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const caKey = join(dir, "ca.key");
    const caCert = join(dir, "ca.crt");
    const leafKey = join(dir, "leaf.key");
    if (!existsSync(caCert) || !existsSync(caKey)) {
      // Written under temporary names and renamed, so a crash never leaves a half-made CA.
      await openssl([
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${caKey}.tmp`,
        "-out",
        `${caCert}.tmp`,
        "-subj",
        "/O=Burrow/CN=Burrow egress CA",
        "-days",
        String(CA_DAYS),
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      await rename(`${caKey}.tmp`, caKey);
      await rename(`${caCert}.tmp`, caCert);
    }
    if (!existsSync(leafKey)) {
      await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${leafKey}.tmp`]);
      await rename(`${leafKey}.tmp`, leafKey);
    }
    return new EgressCa(dir, await readFile(caCert, "utf8"), await readFile(leafKey, "utf8"));
  }

  /** A TLS context presenting a certificate for `host`, issued on first use. */
  contextFor(host: string): Promise<SecureContext> {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(host)) return Promise.reject(new Error(`not a host name: ${host}`));
    const cached = this.leaves.get(host);
    if (cached && cached.issuedAt > Date.now() - LEAF_REISSUE_MS) return cached.context;
    if (this.leaves.size >= MAX_CACHED_LEAVES) this.leaves.clear();
    const context = this.issue(host).then((cert) =>
      createSecureContext({ key: this.leafKeyPem, cert: `${cert}${this.certPem}` }),
    );
    context.catch(() => this.leaves.delete(host));
    this.leaves.set(host, { issuedAt: Date.now(), context });
    return context;
  }

  private issue(host: string): Promise<string> {
    return openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      join(this.dir, "leaf.key"),
      "-CA",
      join(this.dir, "ca.crt"),
      "-CAkey",
      join(this.dir, "ca.key"),
      "-subj",
      `/CN=${host}`,
      "-days",
      String(LEAF_DAYS),
      "-addext",
      `subjectAltName=DNS:${host}`,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "extendedKeyUsage=serverAuth",
    ]);
  }
}
