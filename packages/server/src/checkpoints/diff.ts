import type { DiffEntry } from "@burrow/core";
import type { ManifestEntry } from "@burrow/runtime";

/** What the template (the bottom read-only layer) has at a path. */
export interface TemplateLayer {
  stat(path: string): Promise<{ type: DiffEntry["type"]; size: number } | null>;
  /** Chunk hashes of a template file (to compare it with a changed copy). */
  chunks(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
}

type Visible = { from: "layer"; entry: ManifestEntry } | { from: "template"; type: DiffEntry["type"]; size: number };

function wireType(t: ManifestEntry["type"]): DiffEntry["type"] {
  return t === "file" || t === "dir" || t === "symlink" ? t : "other";
}

/** What a merged view (layer entries over the template) shows at `path`; null when nothing. */
async function visible(
  view: ReadonlyMap<string, ManifestEntry>,
  path: string,
  template: TemplateLayer,
): Promise<Visible | null> {
  const own = view.get(path);
  if (own) return own.type === "whiteout" ? null : { from: "layer", entry: own };
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const dir = view.get(path.slice(0, i));
    if (!dir) continue;
    if (dir.type !== "dir" || dir.opaque) return null;
  }
  const st = await template.stat(path);
  return st ? { from: "template", ...st } : null;
}

async function same(path: string, a: Visible, b: Visible, template: TemplateLayer): Promise<boolean> {
  if (a.from === "template" && b.from === "template") return true;
  const typeOf = (v: Visible) => (v.from === "layer" ? wireType(v.entry.type) : v.type);
  if (typeOf(a) !== typeOf(b)) return false;
  const type = typeOf(a);
  if (type === "dir" || type === "other") return true;
  const content = async (v: Visible) => {
    if (v.from === "layer") return type === "file" ? (v.entry.chunks ?? []).join(",") : (v.entry.target ?? "");
    return type === "file" ? (await template.chunks(path)).join(",") : await template.readlink(path);
  };
  if (a.from === "layer" && b.from === "layer" && type === "file" && a.entry.mode !== b.entry.mode) return false;
  return (await content(a)) === (await content(b));
}

/**
 * Files added, modified and removed between two merged views of a sandbox's files (layer
 * entries over the template). Directories count only when they appear or disappear.
 */
export async function diffViews(
  from: readonly ManifestEntry[],
  to: readonly ManifestEntry[],
  template: TemplateLayer,
): Promise<DiffEntry[]> {
  const a = new Map(from.map((e) => [e.path, e]));
  const b = new Map(to.map((e) => [e.path, e]));
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: DiffEntry[] = [];
  const sizeOf = (v: Visible) => (v.from === "layer" ? v.entry.size : v.size);
  const typeOf = (v: Visible) => (v.from === "layer" ? wireType(v.entry.type) : v.type);
  for (const path of paths) {
    const va = await visible(a, path, template);
    const vb = await visible(b, path, template);
    if (!va && !vb) continue;
    if (!va && vb) out.push({ path: `/${path}`, change: "added", type: typeOf(vb), newSize: sizeOf(vb) });
    else if (va && !vb) out.push({ path: `/${path}`, change: "removed", type: typeOf(va), oldSize: sizeOf(va) });
    else if (va && vb && !(await same(path, va, vb, template))) {
      out.push({ path: `/${path}`, change: "modified", type: typeOf(vb), oldSize: sizeOf(va), newSize: sizeOf(vb) });
    }
  }
  return out;
}

/** Longest-common-subsequence work allowed for a line diff (lines × lines). */
const MAX_DIFF_CELLS = 25_000_000;
const CONTEXT = 3;

type Op = { kind: " " | "-" | "+"; line: string };

function editScript(a: string[], b: string[]): Op[] {
  // Trim the common head and tail; run the quadratic LCS only on the middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const ma = a.slice(head, a.length - tail);
  const mb = b.slice(head, b.length - tail);
  if (ma.length * mb.length > MAX_DIFF_CELLS) {
    throw new RangeError(`files too different to diff (${ma.length} × ${mb.length} changed lines)`);
  }
  const w = mb.length + 1;
  const lcs = new Uint32Array((ma.length + 1) * w);
  for (let i = ma.length - 1; i >= 0; i--) {
    for (let j = mb.length - 1; j >= 0; j--) {
      lcs[i * w + j] =
        ma[i] === mb[j]
          ? (lcs[(i + 1) * w + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
    }
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: " ", line }));
  let i = 0;
  let j = 0;
  while (i < ma.length || j < mb.length) {
    if (i < ma.length && j < mb.length && ma[i] === mb[j]) {
      ops.push({ kind: " ", line: ma[i++] as string });
      j++;
    } else if (
      i < ma.length &&
      (j >= mb.length || (lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number))
    ) {
      ops.push({ kind: "-", line: ma[i++] as string });
    } else {
      ops.push({ kind: "+", line: mb[j++] as string });
    }
  }
  for (const line of a.slice(a.length - tail)) ops.push({ kind: " ", line });
  return ops;
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A unified diff (3 lines of context) of two texts; "" when they are equal. */
export function unifiedDiff(oldText: string, newText: string, oldName: string, newName: string): string {
  const ops = editScript(splitLines(oldText), splitLines(newText));
  const changed = ops.map((op, k) => (op.kind === " " ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return "";
  const out = [`--- ${oldName}`, `+++ ${newName}`];
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, (changed[k] as number) - CONTEXT);
    let end = (changed[k] as number) + CONTEXT;
    while (k + 1 < changed.length && (changed[k + 1] as number) - CONTEXT <= end + 1)
      end = (changed[++k] as number) + CONTEXT;
    end = Math.min(end, ops.length - 1);
    k++;
    let oldLine = 1;
    let newLine = 1;
    for (let n = 0; n < start; n++) {
      if ((ops[n] as Op).kind !== "+") oldLine++;
      if ((ops[n] as Op).kind !== "-") newLine++;
    }
    const hunk = ops.slice(start, end + 1);
    const oldCount = hunk.filter((o) => o.kind !== "+").length;
    const newCount = hunk.filter((o) => o.kind !== "-").length;
    out.push(`@@ -${oldCount ? oldLine : oldLine - 1},${oldCount} +${newCount ? newLine : newLine - 1},${newCount} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.line}`);
  }
  return `${out.join("\n")}\n`;
}
