import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** All times are UTC milliseconds since the epoch (integers); time zones exist only at the edges. */

export const projects = sqliteTable("projects", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** Set from the dashboard's autopilot switch; null = use the config's value. */
  autopilotOverride: integer("autopilot_override", { mode: "boolean" }),
  createdAt: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(), // key_…
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    /** First 16 characters of the key (`sk_live_` + 8): finds the row; the hash proves the rest. */
    lookupPrefix: text("lookup_prefix").notNull(),
    last4: text("last4").notNull(),
    hash: text("hash").notNull(), // Argon2id
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("api_keys_lookup").on(t.lookupPrefix)],
);

/** Dashboard accounts (SPEC §11). */
export const adminUsers = sqliteTable(
  "admin_users",
  {
    id: text("id").primaryKey(), // adm_…
    username: text("username").notNull(),
    role: text("role", { enum: ["admin", "viewer"] }).notNull(),
    passwordHash: text("password_hash").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("admin_users_username").on(t.username)],
);

/** Key/value facts about this installation (first-start done, last evaluator slot, …). */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
