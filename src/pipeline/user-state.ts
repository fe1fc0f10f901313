import type { Stage } from "../db/schema/pipeline";
import type { IdentifyItem } from "./normalise";

/**
 * A tracked user as the normaliser holds it while applying a batch: loaded once, changed in memory item by
 * item (in arrival order), written back once. Only the columns listed here are ever written by the
 * normaliser; `suppressed`, `paused` and the like belong to other parts and are never overwritten.
 */
export type UserState = {
  id: number;
  projectId: string;
  externalUserId: string;
  email: string | null;
  name: string | null;
  plan: string | null;
  signupDate: number | null;
  company: string | null;
  role: string | null;
  /** JSON text as stored; `traitsObject` is its parsed form once an identify needed it. */
  traits: string;
  traitsObject?: Record<string, unknown>;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  stage: Stage | null;
  stageChangedAt: number | null;
  interval: string | null;
  mrr: number | null;
  trialEndsAt: number | null;
  trialChangedAt: number | null;
  billingChangedAt: number | null;
  churnAt: number | null;
  backfilled: boolean;
  eventCount: number;
  createdAt: number;
  updatedAt: number;
  /** Not in the database yet: inserted with its pre-assigned id. */
  isNew: boolean;
  /** Changed in this batch. */
  dirty: boolean;
  /** Changed beyond the per-event counters (seen times, event_count): needs the full-row write. */
  full: boolean;
  /** `visibleValues` as loaded, before the batch changed anything (see `changedColumns`). */
  before?: unknown[];
  /** Already in the batch's list of changed users (BatchWrites.touch). */
  touched?: boolean;
  /** Names of the events stored for the user in this batch (the after-apply hook's `changes`). */
  eventNames?: Set<string>;
};

/** Column order of the upsert in writes.ts: keep the two in step. */
export const USER_COLUMNS = [
  "id", "project_id", "external_user_id", "email", "name", "plan", "signup_date", "company", "role", "traits",
  "first_seen_at", "last_seen_at", "stage", "stage_changed_at", "interval", "mrr", "trial_ends_at",
  "trial_changed_at", "billing_changed_at", "churn_at", "backfilled", "event_count", "created_at", "updated_at",
] as const;

/** The columns every event changes, written alone when nothing else changed (most events): fewer indexes to touch. */
export function userToHotRow(u: UserState): unknown[] {
  return [u.id, u.firstSeenAt, u.lastSeenAt, u.eventCount, u.updatedAt];
}

export function userToRow(u: UserState): unknown[] {
  // Serialised once: the text is what is written, and what the after-apply hook compares (visibleValues).
  if (u.traitsObject) {
    u.traits = JSON.stringify(u.traitsObject);
    u.traitsObject = undefined;
  }
  return [
    u.id, u.projectId, u.externalUserId, u.email, u.name, u.plan, u.signupDate, u.company, u.role, u.traits,
    u.firstSeenAt, u.lastSeenAt, u.stage, u.stageChangedAt, u.interval, u.mrr, u.trialEndsAt,
    u.trialChangedAt, u.billingChangedAt, u.churnAt, u.backfilled ? 1 : 0, u.eventCount, u.createdAt, u.updatedAt,
  ];
}

/** The columns audience filters can read (src/audiences/filter.ts USER_FIELDS), and `traits`. */
const VISIBLE_COLUMNS = ["email", "name", "plan", "stage", "interval", "mrr", "company", "role", "signup_date", "first_seen_at", "last_seen_at", "traits"] as const;

export function visibleValues(u: UserState): unknown[] {
  const traits = u.traitsObject ? JSON.stringify(u.traitsObject) : u.traits;
  return [u.email, u.name, u.plan, u.stage, u.interval, u.mrr, u.company, u.role, u.signupDate, u.firstSeenAt, u.lastSeenAt, traits];
}

/** What a batch changed of what audiences can see: "all" for a user it created, else the columns that differ. */
export function changedColumns(u: UserState): "all" | Set<string> {
  if (u.isNew || !u.before) return "all";
  const now = visibleValues(u);
  const changed = new Set<string>();
  for (let i = 0; i < VISIBLE_COLUMNS.length; i++) if (now[i] !== u.before[i]) changed.add(VISIBLE_COLUMNS[i]!);
  return changed;
}

type Row = Record<string, unknown>;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function userFromRow(r: Row): UserState {
  return {
    id: Number(r.id),
    projectId: String(r.project_id),
    externalUserId: String(r.external_user_id),
    email: str(r.email),
    name: str(r.name),
    plan: str(r.plan),
    signupDate: num(r.signup_date),
    company: str(r.company),
    role: str(r.role),
    traits: String(r.traits ?? "{}"),
    firstSeenAt: num(r.first_seen_at),
    lastSeenAt: num(r.last_seen_at),
    stage: str(r.stage) as Stage | null,
    stageChangedAt: num(r.stage_changed_at),
    interval: str(r.interval),
    mrr: num(r.mrr),
    trialEndsAt: num(r.trial_ends_at),
    trialChangedAt: num(r.trial_changed_at),
    billingChangedAt: num(r.billing_changed_at),
    churnAt: num(r.churn_at),
    backfilled: Number(r.backfilled) === 1,
    eventCount: Number(r.event_count ?? 0),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    isNew: false,
    dirty: false,
    full: false,
  };
}

/** From a `json_array(USER_COLUMNS…)` row (see ProjectApply.load). */
export function userFromArray(a: unknown[]): UserState {
  const row: Row = {};
  for (let i = 0; i < USER_COLUMNS.length; i++) row[USER_COLUMNS[i]!] = a[i];
  return userFromRow(row);
}

export function newUser(id: number, projectId: string, externalUserId: string, at: number): UserState {
  return {
    id, projectId, externalUserId, email: null, name: null, plan: null, signupDate: null, company: null, role: null,
    traits: "{}", traitsObject: Object.create(null), firstSeenAt: null, lastSeenAt: null, stage: null,
    stageChangedAt: null, interval: null, mrr: null, trialEndsAt: null, trialChangedAt: null, billingChangedAt: null,
    churnAt: null, backfilled: false, eventCount: 0, createdAt: at, updatedAt: at, isNew: true, dirty: true, full: true,
  };
}

function traitsOf(u: UserState): Record<string, unknown> {
  if (!u.traitsObject) {
    const parsed = JSON.parse(u.traits) as Record<string, unknown>;
    u.traitsObject = Object.assign(Object.create(null), parsed);
  }
  return u.traitsObject!;
}

/**
 * SPEC §5.1: known traits to their columns, the rest merged into `traits` key by key (`null` removes).
 * An identify is the customer's current truth, so it overwrites columns whatever their history.
 */
export function applyIdentify(u: UserState, item: IdentifyItem, receivedAt: number, at: number): void {
  const k = item.known;
  if (k.email !== undefined) u.email = k.email;
  if (k.name !== undefined) u.name = k.name;
  if (k.plan !== undefined) u.plan = k.plan;
  if (k.signup_date !== undefined) u.signupDate = k.signup_date;
  if (k.company !== undefined) u.company = k.company;
  if (k.role !== undefined) u.role = k.role;
  const keys = Object.keys(item.traits);
  if (keys.length > 0) {
    const traits = traitsOf(u);
    for (const key of keys) {
      const value = item.traits[key];
      if (value === null) delete traits[key];
      else traits[key] = value;
    }
  }
  if (u.firstSeenAt === null || receivedAt < u.firstSeenAt) u.firstSeenAt = receivedAt;
  u.updatedAt = at;
  u.dirty = true;
  u.full = true;
}
