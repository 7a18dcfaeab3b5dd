import { prefixedId } from "./ids.js";

/** Preview URLs: a sandbox port reachable at `http://<port>-<sandboxId>.<domain>`. */

export interface CreatePreviewRequest {
  /** 1–65535. */
  port: number;
  /** Anyone with the URL may use it; default false (a token is needed). */
  public?: boolean;
  /** The preview stops working after this long; default never. */
  expiresInMs?: number;
}

export interface PreviewInfo {
  /** "pv_" + 20 characters. */
  id: string;
  sandboxId: string;
  port: number;
  public: boolean;
  /** `<port>-<sandboxId>.<domain>` (the Host the server routes). */
  host: string;
  /** `http://<host>/`; for a private preview, with `?burrow_token=` when just created. */
  url: string;
  /** Only in the answer to create, for a private preview: send it as `X-Burrow-Preview-Token`. */
  token?: string;
  expiresAt: string | null;
  createdAt: string;
}

export interface ListPreviewsResponse {
  previews: PreviewInfo[];
  /** The domain preview hosts are under (BURROW_PREVIEW_DOMAIN; default `localhost:<port>`). */
  domain: string;
}

/** Header and query parameter that carry a private preview's token. */
export const PREVIEW_TOKEN_HEADER = "x-burrow-preview-token";
export const PREVIEW_TOKEN_QUERY = "burrow_token";
/** Cookie the proxy sets when a token came in the query, so a browser's next requests carry it. */
export const PREVIEW_TOKEN_COOKIE = "burrow_preview";

export function previewHost(sandboxId: string, port: number, domain: string): string {
  return `${port}-${sandboxId}.${domain}`;
}

export const PREVIEW_ID_PATTERN = /^pv_[a-z2-7]{20}$/;

export function newPreviewId(randomBytes: (n: number) => Uint8Array): string {
  return prefixedId("pv", randomBytes);
}

export function isPreviewId(value: string): boolean {
  return PREVIEW_ID_PATTERN.test(value);
}
