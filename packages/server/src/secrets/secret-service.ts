import {
  BurrowError,
  ErrorCode,
  isSecretName,
  MAX_SECRET_VALUE_BYTES,
  type SecretBinding,
  type SecretInfo,
  secretPlaceholder,
} from "@burrow/core";
import {
  domainMatches,
  type EgressEntry,
  parseEgressEntry,
  type SecretBroker,
  type SecretLookup,
} from "@burrow/egress";
import { SANDBOX_CA_BUNDLE_PATH, SANDBOX_CA_PATH } from "@burrow/runtime";
import type { SecretRecord, SecretStore } from "../store/secret-store.js";
import type { SecretCipher } from "./secret-cipher.js";

type DomainEntry = Extract<EgressEntry, { kind: "domain" }>;
interface CompiledBinding {
  name: string;
  hosts: DomainEntry[];
  allowHttp: boolean;
}

export const MAX_BINDINGS = 64;
export const MAX_HOSTS_PER_BINDING = 32;

/** The egress CA, and the system bundle it is appended to, inside every sandbox. */
const SANDBOX_CA_FILE = `/${SANDBOX_CA_PATH}`;
const SANDBOX_CA_BUNDLE = `/${SANDBOX_CA_BUNDLE_PATH}`;

function info(r: SecretRecord): SecretInfo {
  return { name: r.name, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

/**
 * Secrets sealed at rest, their bindings to sandboxes, and what the egress proxies need: whether
 * a sandbox's connection to a host is brokered, and the values it may carry there.
 */
export class SecretService implements SecretBroker {
  private readonly compiled = new Map<string, CompiledBinding[]>();
  /** Counts binding changes, so a read that a change overtook is not cached. */
  private changes = 0;

  constructor(
    private readonly store: SecretStore,
    private readonly cipher: SecretCipher,
  ) {}

  private validate(name: string, value: string): void {
    if (!isSecretName(name)) {
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `'${name}' is not a valid secret name: use letters, digits and '_', not starting with a digit (at most 128)`,
        { details: { field: "name" } },
      );
    }
    if (value.length === 0 || Buffer.byteLength(value) > MAX_SECRET_VALUE_BYTES) {
      throw new BurrowError(
        ErrorCode.ValidationFailed,
        `the value of secret ${name} must have 1–${MAX_SECRET_VALUE_BYTES} bytes`,
        { details: { field: "value" } },
      );
    }
    // The value goes into HTTP headers: a line break or NUL would let it forge headers.
    if (/[\r\n\0]/.test(value)) {
      throw new BurrowError(ErrorCode.ValidationFailed, `the value of secret ${name} contains a line break or NUL`, {
        details: { field: "value" },
      });
    }
  }

  async create(name: string, value: string): Promise<SecretInfo> {
    this.validate(name, value);
    const now = new Date().toISOString();
    const record = { name, sealed: this.cipher.seal(name, value), createdAt: now, updatedAt: now };
    if (!(await this.store.insert(record))) {
      throw new BurrowError(ErrorCode.Conflict, `secret ${name} already exists; PUT /v1/secrets/${name} replaces it`, {
        details: { name },
      });
    }
    return info(record);
  }

  /** Sets the value of a secret, creating it when missing. Bound sandboxes use it from their next request. */
  async put(name: string, value: string): Promise<SecretInfo> {
    this.validate(name, value);
    const now = new Date().toISOString();
    const existing = await this.store.get(name);
    await this.store.upsert({
      name,
      sealed: this.cipher.seal(name, value),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
    return info((await this.store.get(name)) as SecretRecord);
  }

  async get(name: string): Promise<SecretInfo> {
    const record = await this.store.get(name);
    if (!record) throw new BurrowError(ErrorCode.SecretNotFound, `secret ${name} not found`, { details: { name } });
    return info(record);
  }

  async list(): Promise<SecretInfo[]> {
    return (await this.store.list()).map(info);
  }

  /** Deletes the secret; bound sandboxes then send its placeholder unreplaced. */
  delete(name: string): Promise<boolean> {
    return this.store.delete(name);
  }

  /** Validates bindings from the API: known secrets, each once, with domain hosts. */
  async parseBindings(input: SecretBinding[], field = "network.secrets"): Promise<SecretBinding[]> {
    if (input.length > MAX_BINDINGS) {
      throw new BurrowError(ErrorCode.ValidationFailed, `${field}: at most ${MAX_BINDINGS} secrets per sandbox`);
    }
    const seen = new Set<string>();
    const known = new Set((await this.store.list()).map((r) => r.name));
    return input.map((binding, i) => {
      const at = `${field}[${i}]`;
      if (!known.has(binding.name)) {
        throw new BurrowError(
          ErrorCode.UnknownSecret,
          `${at}: secret '${binding.name}' does not exist; create it with POST /v1/secrets`,
          { details: { field: at, secret: binding.name } },
        );
      }
      if (seen.has(binding.name)) {
        throw new BurrowError(ErrorCode.ValidationFailed, `${at}: secret ${binding.name} is bound twice`, {
          details: { field: at, secret: binding.name },
        });
      }
      seen.add(binding.name);
      if (binding.hosts.length === 0 || binding.hosts.length > MAX_HOSTS_PER_BINDING) {
        throw new BurrowError(
          ErrorCode.ValidationFailed,
          `${at}.hosts: name 1–${MAX_HOSTS_PER_BINDING} hosts the secret may be sent to`,
          { details: { field: `${at}.hosts`, secret: binding.name } },
        );
      }
      const hosts = binding.hosts.map((raw, j) => {
        const entry = parseEgressEntry(raw, `${at}.hosts[${j}]`);
        if (entry.kind !== "domain") {
          throw new BurrowError(
            ErrorCode.ValidationFailed,
            `${at}.hosts[${j}]: '${raw}' is an address; secrets are bound to host names (TLS SNI, HTTP Host)`,
            { details: { field: `${at}.hosts[${j}]`, entry: raw } },
          );
        }
        return `${entry.wildcard ? "*." : ""}${entry.name}`;
      });
      return { name: binding.name, hosts, ...(binding.allowHttp === true ? { allowHttp: true } : {}) };
    });
  }

  bindings(sandboxId: string): Promise<SecretBinding[]> {
    return this.store.bindings(sandboxId);
  }

  async setBindings(sandboxId: string, bindings: SecretBinding[]): Promise<void> {
    this.changes++;
    await this.store.setBindings(sandboxId, bindings);
    this.compiled.delete(sandboxId);
  }

  /** Gives `toId` (a fork) the bindings of `fromId`. */
  async copy(fromId: string, toId: string): Promise<void> {
    const bindings = await this.bindings(fromId);
    if (bindings.length > 0) await this.setBindings(toId, bindings);
  }

  async forget(sandboxId: string): Promise<void> {
    await this.setBindings(sandboxId, []);
  }

  private async compiledFor(sandboxId: string): Promise<CompiledBinding[]> {
    let c = this.compiled.get(sandboxId);
    if (!c) {
      const changes = this.changes;
      c = (await this.store.bindings(sandboxId)).map((b) => ({
        name: b.name,
        hosts: b.hosts.map((h) => parseEgressEntry(h, "hosts") as DomainEntry),
        allowHttp: b.allowHttp === true,
      }));
      if (changes === this.changes) this.compiled.set(sandboxId, c);
    }
    return c;
  }

  /** Whether the sandbox's requests to `host` carry brokered secrets (so TLS to it is terminated). */
  async brokers(sandboxId: string, host: string): Promise<boolean> {
    const name = host.toLowerCase().replace(/\.$/, "");
    return (await this.compiledFor(sandboxId)).some((b) => b.hosts.some((h) => domainMatches(h, name)));
  }

  /**
   * The values the sandbox's request to `host` may carry: only secrets bound to that host, and
   * over plain HTTP (`plainHttp`) only those whose binding opted in with `allowHttp`.
   */
  async lookupFor(sandboxId: string, host: string, plainHttp = false): Promise<SecretLookup> {
    const name = host.toLowerCase().replace(/\.$/, "");
    const allowed = (await this.compiledFor(sandboxId))
      .filter((b) => (!plainHttp || b.allowHttp) && b.hosts.some((h) => domainMatches(h, name)))
      .map((b) => b.name);
    // The sealed values are read now; the lookup opens one only when the request names it.
    const sealed = new Map<string, Buffer>();
    for (const secret of allowed) {
      const record = await this.store.get(secret);
      if (record) sealed.set(secret, record.sealed);
    }
    return (secret) => {
      const value = sealed.get(secret);
      return value === undefined ? undefined : this.cipher.open(secret, value);
    };
  }

  /**
   * Env a sandbox with these bindings gets: each secret's name set to its placeholder, and the
   * CA bundle variables that make Node and Python's requests trust the Burrow egress CA.
   */
  static sandboxEnv(bindings: SecretBinding[]): Record<string, string> {
    if (bindings.length === 0) return {};
    const env: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: SANDBOX_CA_FILE,
      REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE,
    };
    for (const b of bindings) env[b.name] = secretPlaceholder(b.name);
    return env;
  }

  /**
   * A sandbox's env with the variables `sandboxEnv` gave it for its old bindings replaced by
   * those of `bindings`. A variable the user set to something else is left alone.
   */
  static rebindEnv(env: Record<string, string>, bindings: SecretBinding[]): Record<string, string> {
    const ours: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: SANDBOX_CA_FILE,
      REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE,
    };
    const kept = Object.fromEntries(
      Object.entries(env).filter(([k, v]) => v !== secretPlaceholder(k) && ours[k] !== v),
    );
    return { ...SecretService.sandboxEnv(bindings), ...kept };
  }
}
