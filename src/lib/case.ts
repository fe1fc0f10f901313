/** `workspaceId`, `WorkspaceID`, `workspace-id` → `workspace_id`: the one spelling properties are stored in. */
export function toSnakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/[\s\-]+/g, "_")
    .toLowerCase();
}

const snakeCache = new Map<string, string>();

/** toSnakeCase with a bounded memo: the same few dozen keys arrive millions of times. */
export function snakeKey(key: string): string {
  let s = snakeCache.get(key);
  if (s === undefined) {
    s = toSnakeCase(key);
    if (snakeCache.size > 10_000) snakeCache.clear();
    snakeCache.set(key, s);
  }
  return s;
}
