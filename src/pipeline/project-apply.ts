import type { Transaction } from "../db/client";
import { DAY } from "../lib/durations";
import { quarantineItem, type QueueRow } from "./quarantine-item";
import type { UserIds } from "./user-ids";
import { isRejection, normaliseTrack, type IdentifyItem, type Item, type TrackItem } from "./normalise";
import { unknownUser, type Rejection } from "./reasons";
import { applyEvent } from "./stages";
import { applyIdentify, newUser, userFromArray, USER_COLUMNS, visibleValues, type UserState } from "./user-state";
import type { BatchWrites } from "./writes";

export type ProjectSettings = { bufferTtlMs: number; churnGraceMs: number };

/**
 * Queue rows end applied, buffered, quarantined or skipped as bulk duplicates; `attached` counts buffered
 * events stored on identify. Buffered events skipped or quarantined on attach count in `duplicates` /
 * `quarantined` too, so stored events + buffer + quarantine + duplicates always equals tracks taken; they are
 * also counted apart in `attachDuplicates` / `attachQuarantined` (metrics: queue items vs buffer movements).
 */
export type BatchCounts = { applied: number; duplicates: number; buffered: number; quarantined: number; attached: number; attachDuplicates: number; attachQuarantined: number };

export const zero = (): BatchCounts => ({ applied: 0, duplicates: 0, buffered: 0, quarantined: 0, attached: 0, attachDuplicates: 0, attachQuarantined: 0 });

/**
 * An event waiting for its user (SPEC §5.2): from event_buffer (`bufferId`) or from earlier in this batch
 * (`seq`, its queue row). The payload text itself is copied inside SQLite from that row, never shipped back.
 */
type Pending = { bufferId?: number; seq?: number; item?: TrackItem; source: string; payload: string; receivedAt: number };

/** Where an event's verbatim payload is read from when it is inserted. */
export type PayloadRef = { seq?: number; bufferId?: number };

/**
 * One project's share of a batch. `load` reads, in three set-based queries, everything the items will touch
 * (their users, the buffered events of users about to be identified, existing events a bulk item might
 * duplicate); `apply` then runs item by item in memory, in arrival order, with no database round trip.
 */
export class ProjectApply {
  private readonly users = new Map<string, UserState>();
  private readonly pending = new Map<string, Pending[]>();
  /** `user \0 name \0 occurred_at` of events stored or being stored: the natural dedupe of bulk events. */
  private readonly seen = new Set<string>();
  /** Whether this batch holds bulk events (from the queue or the buffer): only then is `seen` needed. */
  private dedupe = false;
  private readonly externalIds = new Set<string>();
  private readonly identified = new Set<string>();
  /** `anon:<anonymousId>` of Segment identifies that carry one: their buffered events are the user's. */
  private readonly aliases = new Set<string>();
  private readonly bulkTracks: TrackItem[] = [];

  constructor(
    private readonly tx: Transaction,
    private readonly projectId: string,
    private readonly settings: ProjectSettings,
    private readonly w: BatchWrites,
    private readonly ids: UserIds,
    private readonly counts: BatchCounts,
    private readonly at: number,
  ) {}

  /** Notes what an item will need loaded. */
  expect(item: Item, source: string): void {
    this.externalIds.add(item.externalUserId);
    if (item.kind === "identify") {
      this.identified.add(item.externalUserId);
      if (item.anonymousAlias) this.aliases.add(item.anonymousAlias);
    }
    else if (source === "bulk") this.bulkTracks.push(item);
  }

  async load(): Promise<void> {
    const rs = await this.tx.execute({
      sql: `SELECT json_group_array(json_array(${USER_COLUMNS.join(", ")})) AS j FROM tracked_users WHERE project_id = ? AND external_user_id IN (SELECT value FROM json_each(?))`,
      args: [this.projectId, JSON.stringify([...this.externalIds])],
    });
    for (const row of JSON.parse(String(rs.rows[0]?.j ?? "[]")) as unknown[][]) {
      const u = userFromArray(row);
      u.before = visibleValues(u);
      this.users.set(u.externalUserId, u);
    }
    const unknown = [...this.identified].filter((id) => !this.users.has(id));
    for (const alias of this.aliases) if (!this.users.has(alias)) unknown.push(alias);
    if (unknown.length > 0) {
      await this.ids.prepare();
      const buffered = await this.tx.execute({
        sql: "SELECT id, external_user_id, source, payload, received_at FROM event_buffer WHERE project_id = ? AND external_user_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        args: [this.projectId, JSON.stringify(unknown)],
      });
      for (const r of buffered.rows) {
        if (r.source === "bulk") this.dedupe = true;
        this.pendingFor(String(r.external_user_id)).push({
          bufferId: Number(r.id),
          source: String(r.source),
          payload: String(r.payload),
          receivedAt: Number(r.received_at),
        });
      }
    }
    if (this.bulkTracks.length > 0) this.dedupe = true;
    const keys: [number, string, number][] = [];
    for (const e of this.bulkTracks) {
      const u = this.users.get(e.externalUserId);
      if (u) keys.push([u.id, e.name, e.occurredAt]);
    }
    if (keys.length > 0) {
      const existing = await this.tx.execute({
        sql: "SELECT e.user_id, e.name, e.occurred_at FROM json_each(?) j JOIN events e ON e.user_id = j.value ->> 0 AND e.name = j.value ->> 1 AND e.occurred_at = j.value ->> 2",
        args: [JSON.stringify(keys)],
      });
      for (const r of existing.rows) this.seen.add(`${r.user_id}\u0000${r.name}\u0000${r.occurred_at}`);
    }
  }

  apply(item: Item, row: QueueRow): void {
    if (item.kind === "identify") return this.applyIdentify(item, row);
    const u = this.users.get(item.externalUserId);
    if (!u) {
      this.pendingFor(item.externalUserId).push({ seq: row.seq, item, source: row.source, payload: row.payload, receivedAt: row.receivedAt });
      this.counts.buffered++;
      return;
    }
    if (this.applyTrack(u, item, row.source, { seq: row.seq }, row.receivedAt)) this.counts.applied++;
    else this.counts.duplicates++;
  }

  /** Events still waiting for their user go to event_buffer. */
  finish(): void {
    for (const [externalUserId, list] of this.pending) {
      for (const p of list) {
        if (p.bufferId === undefined) this.w.bufferInserts.push([this.projectId, externalUserId, p.source, p.seq, p.receivedAt]);
      }
    }
  }

  /**
   * SPEC §5.2: an event that waited longer than `buffer_ttl` for its identify belongs in quarantine, not on the
   * user — whether or not the sweep (every minute at most) has reached it yet. Measured between the two receive
   * times, so a queue that drained late (the server was down) still attaches an identify that came in time.
   */
  private outlived(p: Pending, identifiedAt: number, externalUserId: string): Rejection | undefined {
    if (p.receivedAt >= identifiedAt - this.settings.bufferTtlMs) return undefined;
    return unknownUser(externalUserId, this.settings.bufferTtlMs);
  }

  private pendingFor(externalUserId: string): Pending[] {
    let list = this.pending.get(externalUserId);
    if (!list) this.pending.set(externalUserId, (list = []));
    return list;
  }

  private applyIdentify(item: IdentifyItem, row: QueueRow): void {
    let u = this.users.get(item.externalUserId);
    const created = !u;
    if (!u) {
      u = newUser(this.ids.take(), this.projectId, item.externalUserId, this.at);
      this.users.set(item.externalUserId, u);
    }
    applyIdentify(u, item, row.receivedAt, this.at);
    this.w.touch(u);
    this.counts.applied++;
    if (created && u.signupDate !== null && isBackfill(row.source, u.signupDate, row.receivedAt)) u.backfilled = true;
    const waiting = this.pending.get(item.externalUserId) ?? [];
    this.pending.delete(item.externalUserId);
    // The visitor's anonymous events (Segment: an identify with userId and anonymousId), unless that anonymous
    // id is itself a user.
    const alias = item.anonymousAlias;
    if (alias && !this.users.has(alias) && this.pending.has(alias)) {
      waiting.push(...this.pending.get(alias)!);
      this.pending.delete(alias);
      // In arrival order across both ids: buffered ones (by buffer id) came before this batch's (by seq).
      waiting.sort((a, b) => (a.bufferId === undefined ? 1 : 0) - (b.bufferId === undefined ? 1 : 0) || (a.bufferId ?? a.seq ?? 0) - (b.bufferId ?? b.seq ?? 0));
    }
    if (waiting.length === 0) return;
    // SPEC §5.2: attached in their original order, with their original times, as if they came after the identify.
    for (const p of waiting) {
      if (p.bufferId !== undefined) this.w.bufferDeletes.push(p.bufferId);
      const event = this.outlived(p, row.receivedAt, item.externalUserId) ?? p.item ?? normaliseTrack(p.payload, p.receivedAt);
      if (isRejection(event)) {
        this.w.quarantine.push(quarantineItem({ projectId: this.projectId, kind: "track", source: p.source, payload: p.payload, receivedAt: p.receivedAt }, event));
        this.counts.quarantined++;
        this.counts.attachQuarantined++;
        continue;
      }
      if (this.applyTrack(u, event, p.source, { seq: p.seq, bufferId: p.bufferId }, p.receivedAt)) this.counts.attached++;
      else {
        this.counts.duplicates++;
        this.counts.attachDuplicates++;
      }
      if (created && isBackfill(p.source, event.occurredAt, p.receivedAt)) u.backfilled = true;
    }
  }

  /** Stores one event and its effects; false when it is a bulk duplicate (skipped, SPEC §3). */
  private applyTrack(u: UserState, e: TrackItem, source: string, from: PayloadRef, receivedAt: number): boolean {
    if (this.dedupe) {
      const key = `${u.id}\u0000${e.name}\u0000${e.occurredAt}`;
      if (source === "bulk" && this.seen.has(key)) return false;
      this.seen.add(key);
    }
    const effects = applyEvent(u, e, this.settings.churnGraceMs, this.at);
    this.w.events.push([this.projectId, u.id, e.name, e.occurredAt, receivedAt, e.properties, from.seq ?? null, from.bufferId ?? null]);
    (u.eventNames ??= new Set()).add(e.name);
    // A signup more than a day old, from a backfill (bulk endpoints, or a replayed Segment export): the user is
    // not a new signup, whichever of their identify and their events came first (SPEC §7: no welcome).
    if (e.name === "user_signed_up" && !u.backfilled && isBackfill(source, e.occurredAt, receivedAt)) (u.backfilled = true), (u.full = true);
    if (effects.stage) this.w.addStage(this.projectId, effects.stage);
    if (effects.feature) this.w.addFeature(this.projectId, u.id, effects.feature.feature, effects.feature.count, effects.feature.at);
    if (effects.step) this.w.addStep(this.projectId, u.id, effects.step.step, effects.step.completed, effects.step.at);
    this.w.touch(u);
    return true;
  }
}

/** SPEC §7's backfill: data from the bulk endpoints, or Segment messages (a replayed export), dated more than a
 * day before it arrived. */
function isBackfill(source: string, at: number, receivedAt: number): boolean {
  return (source === "bulk" || source === "segment") && at < receivedAt - DAY;
}
