import { z } from "zod";
import { slug } from "../config/types";
import type { Filter } from "./filter";
import { parseFilter, type FilterIssue } from "./parse-filter";

/**
 * An audience filter (SPEC §6), read into a typed tree at config load. Every problem is reported with its path
 * below `filter` (e.g. `filter.all[2].gt`) and what was expected; see docs/audiences.md for the language.
 */
export const filterSchema = z.unknown().transform((raw, ctx): Filter => {
  const issues: FilterIssue[] = [];
  const filter = parseFilter(raw, issues);
  for (const issue of issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path, input: raw });
  return filter ?? (z.NEVER as never);
});

export const audienceSchema = z.strictObject({
  id: slug,
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  filter: filterSchema,
});

export type AudienceConfig = z.output<typeof audienceSchema>;
