/** Secrets kept by the Burrow server for its egress proxy to broker: values go in, never out. */
import type { ListSecretsResponse, SecretInfo } from "@burrow/core";
import { type ConnectionOptions, resolveConfig } from "./config.js";
import { NotFoundError } from "./errors.js";
import { ApiClient, type RequestOptions } from "./http.js";

export interface SecretApiOptions extends ConnectionOptions, RequestOptions {}

const secretPath = (name: string) => `/v1/secrets/${encodeURIComponent(name)}`;

/**
 * Stored secrets. Bind one to a sandbox with `Sandbox.create({ secrets: [{ name, hosts }] })` or
 * `sandbox.setSecrets(…)`: the sandbox sees `{{secret:NAME}}`, and requests to the bound hosts
 * carry the value in its place.
 */
export const Secrets = {
  /** Stores a new secret; a ConflictError when the name is taken. */
  async create(name: string, value: string, opts: SecretApiOptions = {}): Promise<SecretInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<SecretInfo>(
      { method: "POST", path: "/v1/secrets", json: { name, value } },
      opts,
      `creating secret ${name}`,
    );
  },

  /** Sets a secret's value, creating it when missing; bound sandboxes use it from their next request. */
  async set(name: string, value: string, opts: SecretApiOptions = {}): Promise<SecretInfo> {
    const api = new ApiClient(await resolveConfig(opts));
    return api.json<SecretInfo>(
      { method: "PUT", path: secretPath(name), json: { value } },
      opts,
      `setting secret ${name}`,
    );
  },

  /** Names and times of the stored secrets (never their values). */
  async list(opts: SecretApiOptions = {}): Promise<SecretInfo[]> {
    const api = new ApiClient(await resolveConfig(opts));
    return (await api.json<ListSecretsResponse>({ method: "GET", path: "/v1/secrets" }, opts, "listing secrets"))
      .secrets;
  },

  /** Deletes a secret; false when there was none. */
  async delete(name: string, opts: SecretApiOptions = {}): Promise<boolean> {
    const api = new ApiClient(await resolveConfig(opts));
    try {
      await api.empty({ method: "DELETE", path: secretPath(name) }, opts, `deleting secret ${name}`);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  },
};
