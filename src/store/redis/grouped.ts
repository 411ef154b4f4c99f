/**
 * Items grouped by a key, in first-seen order: the commands of a batch that
 * write one key (a schedule shard, a workspace's index) become one command
 * per key with many members instead of one per item.
 */
export function groupedBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** ZADD's score-member arguments: every member with one score. */
export function scoredMembers(members: readonly string[], score: number): (string | number)[] {
  const args: (string | number)[] = [];
  for (const member of members) args.push(score, member);
  return args;
}
