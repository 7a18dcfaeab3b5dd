/**
 * The first path segments of E2B's control-plane API (served at the root, beside Burrow's `/v1`).
 * A request under one of them that no route serves is still answered in E2B's error shape, so
 * the e2b SDK can read the message.
 */
const E2B_API_ROOTS = new Set([
  "sandboxes",
  "v2",
  "v3",
  "templates",
  "snapshots",
  "secrets",
  "volumes",
  "volumecontent",
  "teams",
  "nodes",
  "access-tokens",
  "api-keys",
]);

export function isE2bApiPath(pathname: string): boolean {
  const first = pathname.split("/")[1] ?? "";
  return E2B_API_ROOTS.has(first);
}
