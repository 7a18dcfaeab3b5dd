import type { FileHandle } from "node:fs/promises";

const BLOCK = 512;

/** A regular file inside a tar archive: where its bytes start and how many there are. */
export interface TarFile {
  path: string;
  offset: number;
  size: number;
}

function text(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString("utf8");
}

/** Octal header numbers; GNU tar writes sizes of 8 GiB and more in base-256 (high bit set). */
function number(block: Buffer, start: number, length: number): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[start + i] ?? 0);
    return value;
  }
  const digits = text(block, start, length).trim();
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

/** The records of a pax extended header ("<len> key=value\n"…), by key. */
export function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(pos, space).toString("ascii"), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, pos + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return out;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

/**
 * Lists the regular files of a tar archive (ustar, GNU long names, pax path records), reading
 * only headers. Other entry types are skipped.
 */
export async function listTarFiles(fh: FileHandle): Promise<TarFile[]> {
  const files: TarFile[] = [];
  const total = (await fh.stat()).size;
  let pos = 0;
  let longName: string | undefined;
  while (pos + BLOCK <= total) {
    const header = await readAt(fh, pos, BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = number(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const dataAt = pos + BLOCK;
    pos = dataAt + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L" || type === "x") {
      const data = await readAt(fh, dataAt, size);
      longName = type === "L" ? text(data, 0, data.length) : (paxRecords(data).get("path") ?? longName);
      continue;
    }
    const prefix = text(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = undefined;
    if (type === "0" || type === "\0") files.push({ path: name.replace(/^\.\//, ""), offset: dataAt, size });
  }
  return files;
}

export { readAt };
