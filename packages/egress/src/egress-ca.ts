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

/** What kind of CA `EgressCa.load` makes when the directory has none yet. */
export interface LocalCaOptions {
  /** The CA's subject (openssl `-subj`); default the egress CA's. */
  subject?: string;
  /**
   * An openssl `nameConstraints` value limiting the names the CA may vouch for (e.g.
   * `critical,permitted;DNS:localhost`), so trusting it cannot vouch for anything else.
   */
  nameConstraints?: string;
}

/** A leaf certificate (followed by its CA's) and its key, as PEM. */
export interface LeafPem {
  cert: string;
  key: string;
}

/**
 * A CA of this installation (EC P-256, created with openssl on first start, e.g. under
 * `<dataDir>/egress-ca`) and the leaf certificates it issues: one per host name TLS is
 * terminated for, all on one leaf key, cached in memory. The egress proxies use one; the
 * server's HTTPS listener uses another (the preview CA) for `*.localhost`.
 */
export class EgressCa {
  private readonly leaves = new Map<string, { issuedAt: number; context: Promise<SecureContext> }>();

  private constructor(
    private readonly dir: string,
    readonly certPem: string,
    private readonly leafKeyPem: string,
  ) {}

  static async load(dir: string, options: LocalCaOptions = {}): Promise<EgressCa> {
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
        options.subject ?? "/O=Burrow/CN=Burrow egress CA",
        "-days",
        String(CA_DAYS),
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        ...(options.nameConstraints ? ["-addext", `nameConstraints=${options.nameConstraints}`] : []),
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

  /**
   * A TLS context presenting a certificate for `host`, issued on first use. Host names may hold
   * `_` (Burrow's sandbox ids do: `8000-sb_….localhost`).
   */
  contextFor(host: string): Promise<SecureContext> {
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host)) return Promise.reject(new Error(`not a host name: ${host}`));
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

  /** A certificate for `host` and the IP addresses `ips` (for clients that send no server name). */
  async leafPem(host: string, ips: string[] = []): Promise<LeafPem> {
    const cert = await this.issue(host, ips);
    return { cert: `${cert}${this.certPem}`, key: this.leafKeyPem };
  }

  private issue(host: string, ips: string[] = []): Promise<string> {
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
      `subjectAltName=${[`DNS:${host}`, ...ips.map((ip) => `IP:${ip}`)].join(",")}`,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "extendedKeyUsage=serverAuth",
    ]);
  }
}
