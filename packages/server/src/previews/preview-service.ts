import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  BurrowError,
  type CreatePreviewRequest,
  ErrorCode,
  type ListPreviewsResponse,
  newPreviewId,
  PREVIEW_TOKEN_COOKIE,
  PREVIEW_TOKEN_HEADER,
  PREVIEW_TOKEN_QUERY,
  type PreviewInfo,
  previewHost,
} from "@burrow/core";
import type { SandboxService } from "../services/sandbox-service.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { E2bStore } from "../store/e2b-store.js";
import type { PreviewRecord, PreviewStore } from "../store/preview-store.js";

export interface PreviewDeps {
  store: PreviewStore;
  sandboxes: SandboxService;
  e2b: E2bStore;
  keys: ApiKeyStore;
  /** The domain preview hosts live under, e.g. `localhost:7070`. */
  domain: () => string;
}

/** Why a request may not reach a port: the status, a stable code and a message. */
export interface PortDenied {
  status: 401 | 403;
  code: "preview_token_required" | "preview_token_invalid" | "preview_token_mismatch";
  message: string;
}

export interface PortAllowed {
  /** A `Set-Cookie` value to send (a token that came in the query, kept for the browser's next requests). */
  setCookie?: string;
}

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/**
 * Preview URLs: which requests may reach a sandbox's port through the proxy. A port is private
 * unless a public preview names it (or the sandbox came from the E2B API, whose ports are public);
 * a private one needs a preview token (header, `burrow_token` query, or the cookie set from it)
 * or a Burrow API key in X-API-Key.
 */
export class PreviewService {
  constructor(private readonly deps: PreviewDeps) {}

  private info(p: PreviewRecord, token?: string): PreviewInfo {
    const host = previewHost(p.sandboxId, p.port, this.deps.domain());
    const info: PreviewInfo = {
      id: p.id,
      sandboxId: p.sandboxId,
      port: p.port,
      public: p.public,
      host,
      url: token ? `http://${host}/?${PREVIEW_TOKEN_QUERY}=${token}` : `http://${host}/`,
      expiresAt: p.expiresAt,
      createdAt: p.createdAt,
    };
    if (token) info.token = token;
    return info;
  }

  async create(sandboxId: string, request: CreatePreviewRequest): Promise<PreviewInfo> {
    await this.deps.sandboxes.get(sandboxId);
    const now = Date.now();
    const token = request.public ? undefined : `bpt_${randomBytes(24).toString("base64url")}`;
    const record: PreviewRecord = {
      id: newPreviewId((n) => randomBytes(n)),
      sandboxId,
      port: request.port,
      public: request.public ?? false,
      tokenHash: token ? hashToken(token) : null,
      expiresAt: request.expiresInMs === undefined ? null : new Date(now + request.expiresInMs).toISOString(),
      createdAt: new Date(now).toISOString(),
    };
    await this.deps.store.insert(record);
    return this.info(record, token);
  }

  async list(sandboxId: string): Promise<ListPreviewsResponse> {
    await this.deps.sandboxes.get(sandboxId);
    return { previews: (await this.deps.store.list(sandboxId)).map((p) => this.info(p)), domain: this.deps.domain() };
  }

  async delete(sandboxId: string, previewId: string): Promise<void> {
    await this.deps.sandboxes.get(sandboxId);
    if (!(await this.deps.store.delete(sandboxId, previewId))) {
      throw new BurrowError(ErrorCode.PreviewNotFound, `preview ${previewId} of sandbox ${sandboxId} not found`, {
        details: { sandboxId, previewId },
      });
    }
  }

  private live(p: PreviewRecord): boolean {
    return p.expiresAt === null || Date.parse(p.expiresAt) > Date.now();
  }

  /** Whether `req` may reach `port` of sandbox `sandboxId`. */
  async authorize(req: IncomingMessage, url: URL, sandboxId: string, port: number): Promise<PortAllowed | PortDenied> {
    if ((await this.deps.e2b.onTimeout(sandboxId)) !== undefined) return {};
    if ((await this.deps.store.publicFor(sandboxId, port)).some((p) => this.live(p))) return {};
    const apiKey = req.headers["x-api-key"];
    if (typeof apiKey === "string" && (await this.deps.keys.verify(apiKey))) return {};
    const fromHeader = req.headers[PREVIEW_TOKEN_HEADER];
    const fromQuery = url.searchParams.get(PREVIEW_TOKEN_QUERY) ?? undefined;
    const token =
      (typeof fromHeader === "string" ? fromHeader : undefined) ??
      fromQuery ??
      cookieValue(req.headers.cookie, PREVIEW_TOKEN_COOKIE);
    if (token === undefined) {
      return {
        status: 401,
        code: "preview_token_required",
        message: `port ${port} of sandbox ${sandboxId} is private: create a preview (POST /v1/sandboxes/${sandboxId}/previews) and send its token in ${PREVIEW_TOKEN_HEADER} or ?${PREVIEW_TOKEN_QUERY}=`,
      };
    }
    const preview = await this.deps.store.byTokenHash(hashToken(token));
    if (!preview || !this.live(preview)) {
      return { status: 401, code: "preview_token_invalid", message: "the preview token is unknown or expired" };
    }
    if (preview.sandboxId !== sandboxId || preview.port !== port) {
      return {
        status: 403,
        code: "preview_token_mismatch",
        message: `the preview token is for port ${preview.port} of sandbox ${preview.sandboxId}, not port ${port} of ${sandboxId}`,
      };
    }
    if (fromQuery === token) {
      return { setCookie: `${PREVIEW_TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax` };
    }
    return {};
  }
}

/** The path and query sent on to the sandbox: without the preview token. */
export function forwardedPath(url: URL, rawPath: string = url.pathname): string {
  if (!url.searchParams.has(PREVIEW_TOKEN_QUERY)) return `${rawPath}${url.search}`;
  const params = new URLSearchParams(url.searchParams);
  params.delete(PREVIEW_TOKEN_QUERY);
  const query = params.toString();
  return `${rawPath}${query ? `?${query}` : ""}`;
}

/** The Cookie header sent on: without the preview cookie. */
export function forwardedCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const kept = header
    .split(";")
    .map((p) => p.trim())
    .filter((p) => p !== "" && !p.startsWith(`${PREVIEW_TOKEN_COOKIE}=`));
  return kept.length > 0 ? kept.join("; ") : undefined;
}
