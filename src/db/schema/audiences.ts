import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Current audience membership (SPEC §6), materialised. The primary key answers "is this user in audience A"
 * (rules) and lists an audience's members (dashboard); `audience_members_user` serves the refresh of touched
 * users and the chunked recompute, which both select by user id.
 */
export const audienceMembers = sqliteTable(
  "audience_members",
  {
    projectId: text("project_id").notNull(),
    audienceId: text("audience_id").notNull(),
    userId: integer("user_id").notNull(),
    enteredAt: integer("entered_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.audienceId, t.userId] }), index("audience_members_user").on(t.projectId, t.userId)],
);

/**
 * Every entry and exit with its time. A row is open (`exited_at` null) exactly while the matching
 * `audience_members` row exists; both change in the same transaction.
 */
export const audienceHistory = sqliteTable(
  "audience_history",
  {
    id: integer("id").primaryKey(),
    projectId: text("project_id").notNull(),
    audienceId: text("audience_id").notNull(),
    userId: integer("user_id").notNull(),
    enteredAt: integer("entered_at").notNull(),
    exitedAt: integer("exited_at"),
  },
  // One index serves both the exits (the open row of a user in an audience: a seek plus the few rows of earlier
  // stays) and a user's history for the dashboard; a second one cost ~15% of a first fill at 1M users.
  (t) => [index("audience_history_user_audience").on(t.projectId, t.userId, t.audienceId)],
);
