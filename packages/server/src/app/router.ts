import type { IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode } from "@burrow/core";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

export type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  public: boolean;
}

export interface Match {
  handler: Handler;
  params: Record<string, string>;
  public: boolean;
}

/**
 * Minimal path router: `/v1/sandboxes/:id` segments and a trailing `*` that captures the rest
 * (as param `rest`, including its leading slash).
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, options: { public?: boolean } = {}): void {
    const keys: string[] = [];
    const source = path
      .split("/")
      .map((seg) => {
        if (seg === "*") {
          keys.push("rest");
          return "(?<rest>(?:/.*)?)";
        }
        if (seg.startsWith(":")) {
          keys.push(seg.slice(1));
          return `/(?<${seg.slice(1)}>[^/]+)`;
        }
        return seg === "" ? "" : `/${seg.replace(/[.]/g, "\\.")}`;
      })
      .join("");
    const pattern = new RegExp(`^${source.replace("/(?<rest>", "(?<rest>")}$`);
    this.routes.push({ method, path, pattern, keys, handler, public: options.public === true });
  }

  /** Every route as registered (method and `/a/:param` path), in order. */
  list(): Array<{ method: string; path: string }> {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  /** The route for method+path; `allowed` lists methods when only the path matched. */
  match(method: string, path: string): Match | { allowed: string[] } | null {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method && route.method !== "*") {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const key of route.keys) params[key] = decodeParam(m.groups?.[key] ?? "");
      return { handler: route.handler, params, public: route.public };
    }
    return allowed.length ? { allowed } : null;
  }
}

/** A path parameter, percent-decoded; malformed encoding (`%ZZ`) is the client's error. */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BurrowError(ErrorCode.BadRequest, `the path holds malformed percent-encoding: '${raw.slice(0, 200)}'`, {
      details: { reason: "malformed_path" },
    });
  }
}
