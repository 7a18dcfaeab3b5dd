import type { EgressControl } from "./control.js";
import type { NameResolver } from "./resolve.js";

export type Target = { ip: string } | { denied: string } | { failed: string };

/**
 * Where a sandbox's connection to `name` (HTTP Host or TLS SNI) may go: the policy must allow the
 * name, and the proxy connects to one of its addresses that is neither blocked for every
 * sandbox (this host, other sandboxes, link-local) nor denied by the sandbox's CIDRs. The
 * connection goes to the name's address, never to the address the sandbox dialled, so a forged
 * Host or SNI reaches only what it names.
 */
export async function resolveTarget(
  egress: EgressControl,
  resolver: NameResolver,
  sandboxId: string,
  name: string,
): Promise<Target> {
  const policy = await egress.compiledFor(sandboxId);
  if (!policy.allowsName(name)) return { denied: `the egress policy denies ${name}` };
  let addresses: string[];
  try {
    addresses = await resolver.resolve(name);
  } catch (err) {
    return { failed: `cannot resolve ${name}: ${(err as Error).message}` };
  }
  const ip = addresses.find((a) => egress.reachable(a) && policy.allowsResolvedAddress(a));
  if (ip === undefined) return { denied: `${name} resolves only to addresses sandboxes may not reach` };
  return { ip };
}

/** The host part of a Host header ("example.com:8080" → "example.com"). */
export function hostOnly(header: string | undefined): string {
  const h = (header ?? "").trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]"));
  return h.replace(/:\d+$/, "");
}
