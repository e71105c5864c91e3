/**
 * Who gets a model's next free slot: per-key round robin, so one greedy key cannot starve
 * another on the same model.
 *
 * Keys, not requests, take turns. Among the keys with requests waiting, a key goes before
 * another if it holds fewer slots now, and, holding as many, if it was served less recently
 * (then by key id, so every process agrees). A request from key K may take a free slot only
 * when fewer keys are ahead of K than there are free slots. A key with fifty waiters therefore
 * gets no more turns than a key with one: after each grant to the greedy key, the other key is
 * ahead of it for the next free slot. Within one key, waiters are not ordered (a key's own
 * requests compete with each other; that is the key's own business).
 *
 * Why not a fair share (cap / number of keys)? With cap 1 every share rounds up to 1, and the
 * key with more waiters, asking more often, would win almost every free slot. Round robin
 * needs only "when was this key last served", which both stores keep.
 *
 * This is the in-process twin of the rule in concurrency-redis.ts's Lua script.
 */
export interface KeyStanding {
  held: number;
  lastServed: number;
}

export function keysAhead(candidate: string, waitingKeys: Iterable<string>, standing: (key: string) => KeyStanding): number {
  const mine = standing(candidate);
  let ahead = 0;
  for (const key of waitingKeys) {
    if (key === candidate) continue;
    const theirs = standing(key);
    const before =
      theirs.held < mine.held ||
      (theirs.held === mine.held && (theirs.lastServed < mine.lastServed || (theirs.lastServed === mine.lastServed && key < candidate)));
    if (before) ahead++;
  }
  return ahead;
}
