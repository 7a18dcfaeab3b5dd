import { readFile } from "node:fs/promises";
import type { ServerOptions } from "node:https";
import { join } from "node:path";
import { BurrowError, ErrorCode } from "@burrow/core";
import { EgressCa } from "@burrow/egress";
import type { TlsConfig } from "../config.js";

/** What the preview CA may vouch for: `localhost`, its subdomains and loopback addresses. */
const PREVIEW_CA_NAMES =
  "critical,permitted;DNS:localhost,permitted;IP:127.0.0.0/255.0.0.0,permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

export interface TlsSetup {
  options: ServerOptions;
  /** The preview CA's certificate (PEM file) clients trust, when the server issues its own certificates. */
  caPath?: string;
}

/** A name the preview CA issues certificates for. */
export function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

/**
 * The HTTPS listener's certificates: the configured certificate and key, or else ones the
 * preview CA (`<dataDir>/preview-ca`, made on first start) issues per server name asked for
 * (`8000-sb_….localhost`), with a `localhost`/127.0.0.1/::1 certificate for clients that name none.
 */
export async function tlsSetup(tls: TlsConfig, dataDir: string): Promise<TlsSetup> {
  if (tls.certFile !== undefined && tls.keyFile !== undefined) {
    const read = async (path: string, name: string) => {
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        throw new BurrowError(ErrorCode.ValidationFailed, `cannot read ${name} (${path}): ${(err as Error).message}`);
      }
    };
    return {
      options: { cert: await read(tls.certFile, "BURROW_TLS_CERT"), key: await read(tls.keyFile, "BURROW_TLS_KEY") },
    };
  }
  const dir = join(dataDir, "preview-ca");
  const ca = await EgressCa.load(dir, {
    subject: "/O=Burrow/CN=Burrow preview CA (localhost names only)",
    nameConstraints: PREVIEW_CA_NAMES,
  });
  const fallback = await ca.leafPem("localhost", ["127.0.0.1", "::1"]);
  return {
    options: {
      ...fallback,
      SNICallback: (servername, done) => {
        const name = servername.toLowerCase();
        // Other names get the fallback certificate, which the client then refuses as not theirs.
        if (!isLocalhostName(name)) return done(null, undefined);
        ca.contextFor(name).then(
          (context) => done(null, context),
          (err: Error) => done(err, undefined),
        );
      },
    },
    caPath: join(dir, "ca.crt"),
  };
}
