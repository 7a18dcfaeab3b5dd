/** Writes build contexts as tar archives (ustar with pax records for long paths and links). */

export interface TarInput {
  /** Relative path, `/`-separated. */
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  data?: Uint8Array;
  link?: string;
}

const encoder = new TextEncoder();

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, "0")}\0`;
}

function header(name: string, type: string, mode: number, size: number, link: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, offset: number, length: number) => {
    h.set(encoder.encode(text).subarray(0, length), offset);
  };
  put(name, 0, 100);
  put(octal(mode & 0o7777, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put(link, 157, 100);
  put("ustar\u000000", 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length = `${length}${body}`.length;
  return `${length}${body}`;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = (512 - (data.length % 512)) % 512;
  return rest === 0 ? [data] : [data, new Uint8Array(rest)];
}

/** The archive of `entries`, in order. */
export function writeTar(entries: TarInput[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.type === "file" ? (e.data ?? new Uint8Array()) : new Uint8Array();
    const name = e.type === "dir" ? `${e.path}/` : e.path;
    const link = e.link ?? "";
    if (encoder.encode(name).length > 100 || encoder.encode(link).length > 100) {
      const pax = encoder.encode(paxRecord("path", name) + (link ? paxRecord("linkpath", link) : ""));
      parts.push(header("PaxHeader", "x", 0o644, pax.length, ""), ...padded(pax));
    }
    const type = e.type === "dir" ? "5" : e.type === "symlink" ? "2" : "0";
    parts.push(header(name.slice(0, 100), type, e.mode, data.length, link.slice(0, 100)), ...padded(data));
  }
  parts.push(new Uint8Array(1024));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every entry below `dir` (links are stored, never followed), sorted for a stable archive. */
export async function tarDirectory(dir: string): Promise<Uint8Array> {
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  const entries: TarInput[] = [];
  const walk = async (rel: string) => {
    const names = (await fs.readdir(path.join(dir, rel))).sort();
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const full = path.join(dir, childRel);
      const st = await fs.lstat(full);
      if (st.isDirectory()) {
        entries.push({ path: childRel, type: "dir", mode: st.mode });
        await walk(childRel);
      } else if (st.isSymbolicLink()) {
        entries.push({ path: childRel, type: "symlink", mode: st.mode, link: await fs.readlink(full) });
      } else if (st.isFile()) {
        entries.push({ path: childRel, type: "file", mode: st.mode, data: new Uint8Array(await fs.readFile(full)) });
      }
    }
  };
  await walk("");
  return writeTar(entries);
}
