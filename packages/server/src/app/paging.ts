import { BurrowError, ErrorCode } from "@burrow/core";
import { decodeNextToken, encodeNextToken } from "./e2b/schemas.js";

/** Largest page GET /v1/sandboxes hands out. */
export const MAX_LIST_PAGE = 1000;

export interface PageQuery {
  /** Items per page; undefined: all (the list before paging existed). */
  limit: number | undefined;
  /** Where the previous page ended: items after this (createdAt, id) follow. */
  after: { createdAt: string; id: string } | undefined;
}

/** `limit` (1..MAX_LIST_PAGE) and `nextToken` of a list query; 400 bad_request for anything else. */
export function parsePageQuery(url: URL): PageQuery {
  const raw = url.searchParams.get("limit");
  const limit = raw === null ? undefined : Number(raw);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_PAGE)) {
    throw new BurrowError(ErrorCode.BadRequest, `limit must be an integer 1..${MAX_LIST_PAGE}`, {
      details: { field: "limit" },
    });
  }
  const token = url.searchParams.get("nextToken");
  return { limit, after: token ? decodeNextToken(token) : undefined };
}

const before = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }) =>
  a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);

/**
 * One page of `items` (sorted by createdAt, then id) by keyset: the items after the token's
 * (createdAt, id), so sandboxes created or deleted between two pages never make another item
 * skipped or repeated (a new one sorts after every item already handed out).
 */
export function pageOf<T extends { createdAt: string; id: string }>(
  items: readonly T[],
  query: PageQuery,
): { page: T[]; nextToken: string | undefined } {
  const after = query.after;
  const rest = after === undefined ? items : items.filter((r) => before(after, r));
  if (query.limit === undefined || rest.length <= query.limit) return { page: [...rest], nextToken: undefined };
  const page = rest.slice(0, query.limit);
  const last = page[page.length - 1] as T;
  return { page, nextToken: encodeNextToken(last.createdAt, last.id) };
}
