/** Sandbox ids: "sb_" + 20 lowercase base32 characters. Fixed length, because runsc matches ids by prefix. */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const SANDBOX_ID_PATTERN = /^sb_[a-z2-7]{20}$/;

/** `<prefix>_` + 20 lowercase base32 characters: the shape of every Burrow id. */
export function prefixedId(prefix: string, randomBytes: (n: number) => Uint8Array): string {
  let out = `${prefix}_`;
  for (const b of randomBytes(20)) out += ALPHABET[b & 31];
  return out;
}

export function newSandboxId(randomBytes: (n: number) => Uint8Array): string {
  return prefixedId("sb", randomBytes);
}

export function isSandboxId(value: string): boolean {
  return SANDBOX_ID_PATTERN.test(value);
}
