import type { Transaction } from "../db/client";

/**
 * Ids for new users, assigned in memory so that events can point at a user created in the same batch. Safe
 * because the batch runs inside a write transaction (BEGIN IMMEDIATE): nobody else can insert meanwhile.
 * Never below sqlite_sequence, so an id is never reused after a delete (AUTOINCREMENT's promise).
 */
export class UserIds {
  private next?: number;
  constructor(private readonly tx: Transaction) {}

  async prepare(): Promise<void> {
    if (this.next !== undefined) return;
    const rs = await this.tx.execute(
      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tracked_users'), 0), coalesce((SELECT max(id) FROM tracked_users), 0)) AS m",
    );
    this.next = Number(rs.rows[0]!.m) + 1;
  }

  take(): number {
    if (this.next === undefined) throw new Error("UserIds.prepare() was not awaited");
    return this.next++;
  }
}
