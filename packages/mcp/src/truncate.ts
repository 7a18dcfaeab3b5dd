/**
 * Output limits. Tool results go into a model's context, so every stream a tool returns is
 * capped: command output keeps its head and its tail (errors tend to be at the end) with a
 * marker saying how much was cut from the middle; file reads keep the head.
 */

/** Most characters of stdout, and of stderr, one tool result carries. */
export const MAX_OUTPUT_CHARS = 100_000;

/** Most characters of file content `read_file` returns at once. */
export const MAX_FILE_CHARS = 100_000;

/** Most bytes read from a sandbox file for read_file, edit_file and resources. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

/** The marker put where output was cut. */
export function truncationMarker(chars: number): string {
  return `\n[... ${chars} characters truncated ...]\n`;
}

/** True for the second half of a UTF-16 surrogate pair: cutting there would split a character. */
function isLowSurrogate(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  return code >= 0xdc00 && code <= 0xdfff;
}

/** `text.slice(0, end)`, moved left so no character is split. */
export function sliceHead(text: string, end: number): string {
  let cut = Math.min(end, text.length);
  if (cut > 0 && cut < text.length && isLowSurrogate(text, cut)) cut--;
  return text.slice(0, cut);
}

/** The last `count` characters of `text`, moved right so no character is split. */
export function sliceTail(text: string, count: number): string {
  if (count <= 0) return "";
  let start = Math.max(0, text.length - count);
  if (start > 0 && isLowSurrogate(text, start)) start++;
  return text.slice(start);
}

/** Keeps the first and last `max / 2` characters of `text` with a marker between them. */
export function truncateMiddle(text: string, max = MAX_OUTPUT_CHARS): string {
  if (text.length <= max) return text;
  const head = sliceHead(text, Math.ceil(max / 2));
  const tail = sliceTail(text, Math.floor(max / 2));
  return `${head}${truncationMarker(text.length - head.length - tail.length)}${tail}`;
}

/**
 * A bounded buffer for a stream of text: it keeps the first `max / 2` characters and the
 * latest `max / 2`, counting what falls out between them, so memory stays bounded however
 * much a command prints.
 */
export class HeadTailBuffer {
  private head = "";
  private tail: string[] = [];
  private tailLength = 0;
  private dropped = 0;
  private readonly headMax: number;
  private readonly tailMax: number;

  constructor(max = MAX_OUTPUT_CHARS) {
    this.headMax = Math.ceil(max / 2);
    this.tailMax = Math.floor(max / 2);
  }

  /** Characters pushed since the last take(), including any dropped. */
  get length(): number {
    return this.head.length + this.dropped + this.tailLength;
  }

  push(text: string): void {
    if (text === "") return;
    let rest = text;
    if (this.tailLength === 0 && this.dropped === 0 && this.head.length < this.headMax) {
      const room = sliceHead(rest, this.headMax - this.head.length);
      this.head += room;
      rest = rest.slice(room.length);
      if (rest === "") return;
    }
    this.tail.push(rest);
    this.tailLength += rest.length;
    this.trimTail();
  }

  /** The buffered text (with a marker when something was dropped); empties the buffer. */
  take(): string {
    const tail = this.tail.join("");
    const text = this.dropped > 0 ? `${this.head}${truncationMarker(this.dropped)}${tail}` : `${this.head}${tail}`;
    this.head = "";
    this.tail = [];
    this.tailLength = 0;
    this.dropped = 0;
    return text;
  }

  private trimTail(): void {
    while (this.tailLength > this.tailMax) {
      const first = this.tail[0] as string;
      const excess = this.tailLength - this.tailMax;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailLength -= first.length;
        this.dropped += first.length;
        continue;
      }
      const kept = sliceTail(first, first.length - excess);
      this.tail[0] = kept;
      this.tailLength -= first.length - kept.length;
      this.dropped += first.length - kept.length;
    }
  }
}
