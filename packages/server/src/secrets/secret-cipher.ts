import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { BurrowError, ErrorCode } from "@burrow/core";

const ALGORITHM = "aes-256-gcm";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed values start with this version byte, so the format can change later. */
const FORMAT_V1 = 1;

/**
 * Seals secret values with AES-256-GCM under the installation's key. A sealed value is
 * version ‖ nonce ‖ tag ‖ ciphertext; the secret's name is authenticated with it, so a sealed
 * value moved to another name does not open.
 */
export class SecretCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error("the secrets key must be 32 bytes");
  }

  seal(name: string, value: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, nonce);
    cipher.setAAD(Buffer.from(name));
    const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT_V1]), nonce, cipher.getAuthTag(), body]);
  }

  open(name: string, sealed: Buffer): string {
    if (sealed[0] !== FORMAT_V1) throw new Error(`secret ${name}: unknown sealed format`);
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
    const decipher = createDecipheriv(ALGORITHM, this.key, nonce);
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString(
      "utf8",
    );
  }
}

/**
 * The installation's secrets key: BURROW_SECRETS_KEY (64 hex digits) when set, else the key
 * file, created with a random key (mode 0600) on first use.
 */
export function loadSecretsKey(configured: string | undefined, keyFile: string): Buffer {
  if (configured !== undefined) return Buffer.from(configured, "hex");
  if (existsSync(keyFile)) {
    const key = Buffer.from(readFileSync(keyFile, "utf8").trim(), "hex");
    if (key.length !== 32) {
      throw new BurrowError(ErrorCode.ValidationFailed, `${keyFile} must hold 64 hex digits (a 32-byte key)`);
    }
    return key;
  }
  const key = randomBytes(32);
  writeFileSync(keyFile, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return key;
}
