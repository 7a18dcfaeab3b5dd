/** Sandbox ids: "sb_" + 20 lowercase base32 characters. Fixed length, because runsc matches ids by prefix. */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const SANDBOX_ID_PATTERN = /^sb_[a-z2-7]{20}$/;

export function newSandboxId(randomBytes: (n: number) => Uint8Array): string {
  const bytes = randomBytes(20);
  let out = "sb_";
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

export function isSandboxId(value: string): boolean {
  return SANDBOX_ID_PATTERN.test(value);
}
