import { z } from "zod";
import { slug } from "../config/types";

/**
 * An audience filter is a tree (SPEC §6). Its detailed validation (fields, operators per type, durations)
 * lives in `filter.ts`; here the config only needs its shape.
 */
export const filterSchema: z.ZodType<Record<string, unknown>> = z.record(z.string(), z.unknown());

export const audienceSchema = z.strictObject({
  id: slug,
  name: z.string().optional(),
  filter: filterSchema,
});

export type AudienceConfig = z.output<typeof audienceSchema>;
