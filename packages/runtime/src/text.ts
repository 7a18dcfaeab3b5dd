/** The last `n` non-empty lines of `text`, joined by newlines. */
export function tailLines(text: string, n: number): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}
