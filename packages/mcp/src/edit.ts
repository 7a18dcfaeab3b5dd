/** The text replacement behind `edit_file`: exact, and refusing to guess. */
import { ErrorCode, InvalidArgumentError } from "@burrow/sdk";

export interface EditRequest {
  oldText: string;
  newText: string;
  /** Replace every occurrence instead of requiring exactly one. */
  replaceAll?: boolean;
}

export interface EditResult {
  content: string;
  replacements: number;
}

/** Non-overlapping occurrences of `needle` in `text`. */
export function countOccurrences(text: string, needle: string): number {
  if (needle === "") return 0;
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

/**
 * Replaces `oldText` with `newText` in `content`. Fails when `oldText` is empty, absent, or
 * (without `replaceAll`) occurs more than once, so an edit never lands somewhere unintended.
 */
export function applyEdit(content: string, edit: EditRequest, path: string): EditResult {
  if (edit.oldText === "") {
    throw new InvalidArgumentError(ErrorCode.BadRequest, "oldText is empty", {
      details: { hint: "pass the exact text to replace; to create or overwrite a file use write_file" },
    });
  }
  if (edit.oldText === edit.newText) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, "oldText and newText are identical; nothing would change");
  }
  const count = countOccurrences(content, edit.oldText);
  if (count === 0) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, `oldText was not found in ${path}`, {
      details: {
        hint: "read the file with read_file and copy the text exactly, including whitespace, indentation and line breaks",
      },
    });
  }
  if (count > 1 && edit.replaceAll !== true) {
    throw new InvalidArgumentError(ErrorCode.BadRequest, `oldText occurs ${count} times in ${path}`, {
      details: {
        hint: "include more surrounding lines in oldText so it matches exactly once, or set replaceAll to true",
      },
    });
  }
  // split/join replaces literally: no `$&`-style patterns as String.replace would apply.
  return { content: content.split(edit.oldText).join(edit.newText), replacements: count };
}
