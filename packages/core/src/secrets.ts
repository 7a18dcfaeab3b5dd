/**
 * Secrets kept by Burrow and brokered at the egress proxy. A sandbox never holds a secret's
 * value: it sees the placeholder `{{secret:NAME}}` (set as the env var NAME), and the proxy
 * replaces the placeholder in the headers of requests to the hosts the secret is bound to.
 */

/** Secret names look like env var names: a letter or `_`, then letters, digits or `_`. */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Longest secret value accepted, in bytes. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

export function isSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name);
}

/** What the sandbox sees in place of the secret's value. */
export function secretPlaceholder(name: string): string {
  return `{{secret:${name}}}`;
}

/** A stored secret as the API shows it: never its value. */
export interface SecretInfo {
  name: string;
  /** ISO-8601 timestamps. */
  createdAt: string;
  updatedAt: string;
}

export interface CreateSecretRequest {
  name: string;
  value: string;
}

export interface UpdateSecretRequest {
  value: string;
}

export interface ListSecretsResponse {
  secrets: SecretInfo[];
}

/**
 * A secret bound to a sandbox: the hosts its value may be sent to (`api.github.com`, or
 * `*.example.com` for subdomains of example.com).
 */
export interface SecretBinding {
  name: string;
  hosts: string[];
  /**
   * Also put the value into plain-HTTP requests (port 80) to those hosts, where it crosses the
   * network unencrypted. Off by default: only HTTPS requests carry the value.
   */
  allowHttp?: boolean;
}
