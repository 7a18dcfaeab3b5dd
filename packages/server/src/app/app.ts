import type { IncomingMessage, ServerResponse } from "node:http";
import { BurrowError, ErrorCode, type Logger } from "@burrow/core";
import type { ApiKeyStore } from "../store/api-key-store.js";
import { authenticate } from "./auth.js";
import { sendError } from "./http.js";
import { Router } from "./router.js";
import { type RouteDeps, registerRoutes } from "./routes.js";

export interface AppDeps extends RouteDeps {
  keys: ApiKeyStore;
}

/** The request handler of the REST API: route, authenticate, run, translate errors. */
export function createApp(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const router = new Router();
  registerRoutes(router, deps);
  const log: Logger = deps.logger;

  return (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://burrow.local");
    const method = req.method ?? "GET";
    const run = async () => {
      const match = router.match(method, url.pathname);
      if (match === null) {
        throw new BurrowError(ErrorCode.NotFound, `no route for ${method} ${url.pathname}`);
      }
      if ("allowed" in match) {
        throw new BurrowError(ErrorCode.BadRequest, `${method} is not allowed on ${url.pathname}`, {
          details: { allowed: match.allowed },
        });
      }
      if (!match.public) authenticate(req, deps.keys);
      await match.handler({ req, res, params: match.params, url });
    };
    run()
      .catch((err: unknown) => {
        const error = sendError(res, err);
        if (error.code === ErrorCode.Internal)
          log.error({ err: String((err as Error)?.stack ?? err) }, "unhandled error");
      })
      .finally(() => {
        log.debug(
          { method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) },
          "request",
        );
      });
  };
}
