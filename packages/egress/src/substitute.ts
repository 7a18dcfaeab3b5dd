/** `{{secret:NAME}}` anywhere in a header value. */
const PLACEHOLDER = /\{\{secret:([A-Za-z_][A-Za-z0-9_]{0,127})\}\}/g;

/** The value of a bound secret by name, or undefined when it may not be used here. */
export type SecretLookup = (name: string) => string | undefined;

function replaceIn(text: string, lookup: SecretLookup, used: Set<string>): string {
  return text.replace(PLACEHOLDER, (placeholder, name: string) => {
    const value = lookup(name);
    if (value === undefined) return placeholder;
    used.add(name);
    return value;
  });
}

/** Replaces placeholders inside `Basic` credentials, which clients send base64-encoded. */
function replaceInBasic(value: string, lookup: SecretLookup, used: Set<string>): string {
  const match = /^(basic\s+)([A-Za-z0-9+/=]+)\s*$/i.exec(value);
  if (!match) return value;
  const decoded = Buffer.from(match[2] ?? "", "base64").toString("utf8");
  const replaced = replaceIn(decoded, lookup, used);
  return replaced === decoded ? value : `${match[1]}${Buffer.from(replaced, "utf8").toString("base64")}`;
}

/**
 * Substitutes bound secrets for their placeholders in raw headers ([name, value, name, value…]),
 * including inside `Authorization: Basic` credentials. Placeholders of secrets the lookup does
 * not give stay as they are. Returns the new headers and the names of the secrets used.
 */
export function substituteHeaders(rawHeaders: string[], lookup: SecretLookup): { headers: string[]; used: string[] } {
  const used = new Set<string>();
  const headers = rawHeaders.map((text, i) => {
    if (i % 2 === 0) return text;
    const name = (rawHeaders[i - 1] ?? "").toLowerCase();
    const direct = text.includes("{{secret:") ? replaceIn(text, lookup, used) : text;
    return name === "authorization" || name === "proxy-authorization" ? replaceInBasic(direct, lookup, used) : direct;
  });
  return { headers, used: [...used] };
}
