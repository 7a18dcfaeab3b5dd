/**
 * Lets an action ask the page's open streams of a sandbox to close before it goes to sleep or
 * away: hibernation and deletion cut open streams off mid-response, which the browser reports as a
 * network error. Each closer returns once its stream has ended cleanly.
 */
type Closer = () => Promise<void>;

const closers = new Map<string, Set<Closer>>();

export function onCloseStreams(sandboxId: string, closer: Closer): () => void {
  let set = closers.get(sandboxId);
  if (set === undefined) {
    set = new Set();
    closers.set(sandboxId, set);
  }
  set.add(closer);
  return () => {
    set.delete(closer);
  };
}

export async function closeStreams(sandboxId: string): Promise<void> {
  await Promise.all([...(closers.get(sandboxId) ?? [])].map((close) => close().catch(() => undefined)));
}
