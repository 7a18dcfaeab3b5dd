/** Preview URLs of one sandbox's ports: create (private with a token, or public), list, delete. */
import type { ListPreviewsResponse, PreviewInfo } from "@burrow/core";
import type { ApiClient, RequestOptions } from "./http.js";

export interface PreviewCreateOptions extends RequestOptions {
  /** Anyone with the URL may use it; default false (the answer carries a token). */
  public?: boolean;
  /** The preview stops working after this long; default never. */
  expiresInMs?: number;
}

export class Previews {
  constructor(
    private readonly api: ApiClient,
    private readonly sandboxId: string,
  ) {}

  private path(rest = ""): string {
    return `/v1/sandboxes/${encodeURIComponent(this.sandboxId)}/previews${rest}`;
  }

  /** A preview URL of `port`; a private one's `token` is only in this answer. */
  create(port: number, opts: PreviewCreateOptions = {}): Promise<PreviewInfo> {
    const json: { port: number; public?: boolean; expiresInMs?: number } = { port };
    if (opts.public !== undefined) json.public = opts.public;
    if (opts.expiresInMs !== undefined) json.expiresInMs = opts.expiresInMs;
    return this.api.json<PreviewInfo>(
      { method: "POST", path: this.path(), subject: "sandbox", json },
      opts,
      `creating a preview of port ${port} of sandbox ${this.sandboxId}`,
    );
  }

  list(opts?: RequestOptions): Promise<ListPreviewsResponse> {
    return this.api.json<ListPreviewsResponse>(
      { method: "GET", path: this.path(), subject: "sandbox" },
      opts,
      `listing previews of sandbox ${this.sandboxId}`,
    );
  }

  async delete(previewId: string, opts?: RequestOptions): Promise<void> {
    await this.api.empty(
      { method: "DELETE", path: this.path(`/${encodeURIComponent(previewId)}`), subject: "sandbox" },
      opts,
      `deleting preview ${previewId}`,
    );
  }
}
