/** Paths inside a sandbox as tools accept them: absolute, `~/…`, or relative to the home. */
import { posix } from "node:path";
import { ErrorCode, InvalidArgumentError } from "@burrow/sdk";

/** Home of `user`, the account commands run as; relative paths start here. */
export const SANDBOX_HOME = "/home/user";

const MAX_PATH_LENGTH = 4096;

/**
 * Resolves `path` to a normalised absolute path inside the sandbox. Absolute paths may point
 * anywhere in the sandbox (its own filesystem is the boundary); a relative path must stay
 * under /home/user, since `../..` out of it is almost always a mistake.
 */
export function resolveSandboxPath(path: string): string {
  if (path.trim() === "") {
    throw new InvalidArgumentError(ErrorCode.BadRequest, "path is empty", {
      details: { hint: `pass an absolute path or one relative to ${SANDBOX_HOME}` },
    });
  }
  if (path.includes("\0")) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, "path contains a NUL character");
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, `path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (path.startsWith("/")) return withoutTrailingSlash(posix.normalize(path));
  const relative = path === "~" ? "" : path.startsWith("~/") ? path.slice(2) : path;
  const resolved = posix.join(SANDBOX_HOME, relative);
  if (resolved !== SANDBOX_HOME && !resolved.startsWith(`${SANDBOX_HOME}/`)) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, `relative path '${path}' leads outside ${SANDBOX_HOME}`, {
      details: { hint: `relative paths are resolved against ${SANDBOX_HOME}; pass '${resolved}' if you meant it` },
    });
  }
  return withoutTrailingSlash(resolved);
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
