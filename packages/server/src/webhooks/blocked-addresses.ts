import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/**
 * Addresses webhooks may not be sent to: the sandboxes' /16 (a webhook must not become a way to
 * probe sandboxes' ports from the control plane, past their previews' auth) and IPv4 link-local
 * (cloud metadata services). Literal addresses are refused when the webhook is made; names are
 * resolved again before each delivery.
 */
export class WebhookAddressPolicy {
  constructor(private readonly sandboxPrefix: string) {}

  blocked(address: string): boolean {
    const v4 = ipv4Of(address);
    return v4 !== undefined && (v4.startsWith(`${this.sandboxPrefix}.`) || v4.startsWith("169.254."));
  }

  /** Whether the URL's host is, or resolves to, a blocked address (a failed lookup is not blocked). */
  async blockedHost(hostname: string): Promise<boolean> {
    const host = hostname.replace(/^\[|\]$/g, "");
    if (isIP(host)) return this.blocked(host);
    const addresses = await lookup(host, { all: true }).catch(() => []);
    return addresses.some((a) => this.blocked(a.address));
  }
}

/** The IPv4 address of a v4 or IPv4-mapped v6 address (`::ffff:1.2.3.4`, `::ffff:102:304`). */
function ipv4Of(address: string): string | undefined {
  if (isIP(address) === 4) return address;
  const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (mapped === null) return undefined;
  if (mapped[1] !== undefined) return mapped[1];
  const hi = Number.parseInt(mapped[2] as string, 16);
  const lo = Number.parseInt(mapped[3] as string, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}
