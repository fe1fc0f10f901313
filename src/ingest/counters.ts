/**
 * Ingest responses counted by endpoint and status, for `/metrics` (SPEC §14: "ingest counts by endpoint and
 * status"). Process-wide, since there is one HTTP server per process.
 */
const counts = new Map<string, number>();

export const ingestCounters = {
  add(endpoint: string, status: number): void {
    const id = `${endpoint} ${status}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  },
  get(endpoint: string, status: number): number {
    return counts.get(`${endpoint} ${status}`) ?? 0;
  },
  /** Every (endpoint, status) pair seen so far with its count. */
  snapshot(): { endpoint: string; status: number; count: number }[] {
    return [...counts].map(([id, count]) => {
      const [endpoint, status] = id.split(" ");
      return { endpoint: endpoint!, status: Number(status), count };
    });
  },
};
