/** Percentile summary of a list of durations in milliseconds. */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (x) => Math.round(x * 100) / 100;
  return {
    n: sorted.length,
    p50: round(pick(0.5)),
    p95: round(pick(0.95)),
    min: round(sorted[0]),
    max: round(sorted.at(-1)),
  };
}

export async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export async function repeat(n, fn) {
  const samples = [];
  for (let i = 0; i < n; i++) samples.push(await fn(i));
  return summarize(samples);
}
