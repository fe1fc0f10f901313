import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Dashboard sessions (SPEC §11). The cookie carries a random token; only its SHA-256 is stored, so a copy of
 * the database file does not hold live sessions. `csrf_token` is the per-session token every form carries.
 */
export const dashboardSessions = sqliteTable(
  "dashboard_sessions",
  {
    id: text("id").primaryKey(), // ses_…
    tokenHash: text("token_hash").notNull(),
    adminId: text("admin_id").notNull(),
    csrfToken: text("csrf_token").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [uniqueIndex("dashboard_sessions_token").on(t.tokenHash), index("dashboard_sessions_expires").on(t.expiresAt)],
);
