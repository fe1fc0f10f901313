import { defineConfig } from "drizzle-kit";

// `npm run db:generate` diffs src/db/schema against migrations/ and writes the next migration.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema/index.ts",
  out: "./migrations",
});
