import type { EgressPolicy } from "@burrow/core";
import { parseEgressEntry, parseEgressPolicy } from "@burrow/egress";

/** E2B's word for "every address". */
const ALL_TRAFFIC = "0.0.0.0/0";

export interface E2bNetworkInput {
  allowOut?: string[] | undefined;
  denyOut?: string[] | undefined;
}

/**
 * E2B's egress settings as a Burrow policy. In E2B, `allowOut` entries win over `denyOut`
 * entries, and `allow_internet_access: false` means `denyOut: ["0.0.0.0/0"]`. So:
 *   - everything denied (either way): default deny, `allowOut` allowed;
 *   - otherwise: default allow, `denyOut` denied, and `allowOut` listed as allowed (it changes
 *     nothing unless it names what a deny entry covers, where Burrow's deny wins: see e2b.md).
 * Undefined when nothing is set. Bad entries are a 400 naming them (`network.allowOut[0]: …`).
 */
export function e2bEgressPolicy(
  allowInternetAccess: boolean | undefined,
  network: E2bNetworkInput | undefined,
): EgressPolicy | undefined {
  const allowOut = network?.allowOut ?? [];
  const denyOut = network?.denyOut ?? [];
  if (allowInternetAccess === undefined && allowOut.length === 0 && denyOut.length === 0) return undefined;
  const denyAll = allowInternetAccess === false || denyOut.some((e) => e.trim() === ALL_TRAFFIC);
  const policy = denyAll
    ? { default: "deny" as const, allow: allowOut, deny: [] }
    : { default: "allow" as const, allow: allowOut, deny: denyOut };
  // Checked entry by entry under E2B's field names first.
  for (const [i, e] of allowOut.entries()) parseEgressEntry(e, `network.allowOut[${i}]`);
  for (const [i, e] of denyOut.entries()) parseEgressEntry(e, `network.denyOut[${i}]`);
  return parseEgressPolicy(policy, "network");
}
