/** The signed-in API key, kept in sessionStorage only (gone when the tab closes). */
import type { ConnectionOptions } from "@burrow/sdk";

const KEY = "burrow.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

/** SDK connection options for this page: the server that served it, with the key. */
export function connection(apiKey: string): ConnectionOptions {
  return { apiUrl: window.location.origin, apiKey };
}

/** A thrown value as one line for the page. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
