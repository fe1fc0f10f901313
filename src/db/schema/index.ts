/** The whole database schema, one file per capability. drizzle-kit reads this folder to generate migrations. */
export * from "./core";
export * from "./ingest";
export * from "./pipeline";
export * from "./drafts";
export * from "./rules";
export * from "./audiences";
export * from "./dashboard";
export * from "./webhooks";
