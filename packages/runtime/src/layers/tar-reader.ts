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

/** `path=` from a pax extended header's records ("<len> key=value\n"…). */
function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  let path: string | undefined;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(pos, space).toString("ascii"), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, pos + length - 1).toString("utf8");
    if (record.startsWith("path=")) path = record.slice(5);
    pos += length;
  }
  return path;
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
      longName = type === "L" ? text(data, 0, data.length) : (paxPath(data) ?? longName);
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
