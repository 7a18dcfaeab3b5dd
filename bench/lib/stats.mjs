/** Percentile summary of a list of durations in milliseconds (nearest-rank on the sorted samples). */
export function summarize(samples) {
  if (samples.length === 0) return { n: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const pick = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return {
    n: sorted.length,
    p50: round(pick(0.5)),
    p95: round(pick(0.95)),
    min: round(sorted[0]),
    max: round(sorted.at(-1)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

export const round = (x, digits = 2) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Runs fn n times (sequentially) and summarizes the durations it returns. */
export async function repeat(n, fn) {
  const samples = [];
  for (let i = 0; i < n; i++) samples.push(await fn(i));
  return summarize(samples);
}

/** a / b rounded, or null when either side is missing. */
export function ratio(a, b) {
  if (typeof a !== "number" || typeof b !== "number" || b === 0) return null;
  return round(a / b);
}

/** A goal record: { goal, actual, unit, comparison, met }. */
export function goal(goalValue, actual, { unit = "ms", comparison = "<=", note } = {}) {
  const met = typeof actual === "number" && (comparison === "<=" ? actual <= goalValue : actual >= goalValue);
  return {
    goal: goalValue,
    actual: typeof actual === "number" ? round(actual) : null,
    unit,
    comparison,
    met,
    ...(note ? { note } : {}),
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
