import { z } from "zod";
import { canonicalSpecs } from "./canonical";
import {
  badTraitEmailKey,
  checkCanonical,
  checkTimestamp,
  checkTree,
  hasCharsUpTo,
  isPlainObject,
  isReservedName,
  MAX_EMAIL,
  MAX_EVENT_NAME,
  MAX_USER_ID,
  type Issue,
} from "./rules";

/**
 * The request schemas of SPEC §3 — the source of truth for error reporting. They are built once at module
 * load; `validate.ts` runs them only when the fast path could not vouch for an item.
 */

/**
 * Length limits are refinements, not zod's `.min`/`.max`: those run on any value with a `length`, even after the
 * type check failed, and a JSON object whose `length` cannot be compared (`{"length":{"toString":1}}`) makes them
 * throw — a 500 instead of the 422. A refinement runs only on a value of the right type.
 */
function charsUpTo(max: number) {
  return (text: string, ctx: z.RefinementCtx) => {
    if (text.length === 0) ctx.addIssue({ code: "custom", message: "Must not be empty." });
    else if (!hasCharsUpTo(text, max)) ctx.addIssue({ code: "custom", message: `At most ${max} characters.` });
  };
}

const externalUserId = z.string({ error: "Expected a string." }).superRefine(charsUpTo(MAX_USER_ID));

const eventName = z
  .string({ error: "Expected a string." })
  .superRefine(charsUpTo(MAX_EVENT_NAME))
  .refine((n) => !isReservedName(n), { error: `Event names starting with "vf_" or "$" are reserved.` });

const timestamp = z.string({ error: "Expected an ISO 8601 timestamp string." }).superRefine((value, ctx) => {
  const problem = checkTimestamp(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A JSON object checked in place (depth, `__proto__`, reserved keys) — never copied, so never polluted. */
const jsonObject = z.custom<Record<string, unknown>>(isPlainObject, { error: "Expected a JSON object." }).superRefine((value, ctx) => {
  const issues: Issue[] = [];
  checkTree(value, issues);
  for (const i of issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path });
});

const email = z
  .string({ error: "Expected an email address." })
  .refine((text) => text.length <= MAX_EMAIL, { error: `At most ${MAX_EMAIL} characters.` })
  .pipe(z.email({ error: "Expected an email address." }));

export const eventSchema = z
  .object(
    {
      external_user_id: externalUserId,
      name: eventName,
      properties: jsonObject.nullish(),
      timestamp: timestamp.nullish(),
    },
    { error: "Expected an event object." },
  )
  .superRefine((event, ctx) => {
    const specs = typeof event.name === "string" ? canonicalSpecs(event.name) : undefined;
    const props: unknown = event.properties;
    if (!specs || (props != null && !isPlainObject(props))) return; // a bad `properties` is reported already
    const issues: Issue[] = [];
    checkCanonical(specs, props ?? undefined, issues, ["properties"]);
    // Marked: in bulk, an event refused for these alone is also kept in quarantine (validate.ts `quarantine`).
    for (const i of issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path, params: { canonical: true } });
  });

export const userSchema = z
  .object(
    {
      external_user_id: externalUserId,
      email: email.nullish(),
      traits: jsonObject.nullish(),
    },
    { error: "Expected a user object." },
  )
  .superRefine((user, ctx) => {
    const key = badTraitEmailKey(user);
    if (key !== undefined) ctx.addIssue({ code: "custom", message: "Expected an email address.", path: ["traits", key] });
  });

function listOf(key: "events" | "users", max: number) {
  return z.object({
    [key]: z
      .array(z.unknown(), { error: "Expected an array." })
      .refine((items) => items.length >= 1 && items.length <= max, { error: `Expected 1 to ${max} items.` }),
  });
}

/** The envelope of the list endpoints; each item is then checked on its own against the item schema. */
export const batchEnvelope = listOf("events", 500);
export const eventsBulkEnvelope = listOf("events", 1_000);
export const usersBulkEnvelope = listOf("users", 1_000);
