import { z } from "zod";
import { audienceSchema } from "../audiences/schema";
import { isEmail } from "../ingest/rules";
import { ruleSchema } from "../rules/schema";
import { clockTime, cronExpression, duration, slug, timerDuration, timeZone, WEEKDAYS } from "./types";

/**
 * The whole configuration file (SPEC §1). Every key has its default here, so an empty file — or no file —
 * yields a complete, runnable config. `config.example.toml` documents each key; a test keeps the two in step.
 */

/** `host:port`; port 0 asks the system for a free one (what tests do). Also checks `serve --listen`. */
export const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'an address "host:port", e.g. "127.0.0.1:8080"', abort: true })
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65_535, { error: 'an address "host:port" with a port from 0 to 65535' });

/** An absolute http(s) URL; `example` shows one in the error. */
const httpUrlLike = (example: string) =>
  z.string().refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { error: `an absolute http(s) URL like "${example}"` });
/** Where people's browsers go (unsubscribe and click links, the dashboard): only http(s) makes sense there. */
const publicUrl = httpUrlLike("https://vf.example.com");
/** Where Vibefollow itself makes HTTP requests (webhooks, the drafting model): only http(s) can be delivered to. */
const httpUrl = httpUrlLike("https://example.com/hook");
/** What a From or Reply-To header holds: "jane@acme.io" or "Jane at Acme <jane@acme.io>". */
const mailbox = z.string().refine((s) => isEmail(/<([^<>]*)>\s*$/.exec(s)?.[1] ?? s.trim()), { error: 'an address like "jane@acme.io" or "Jane at Acme <jane@acme.io>"' });

/** What `[ingest] rate_limits` may be keyed by: the five ingest endpoints and the Segment API (all of `/v1`). */
export const RATE_LIMITED_ENDPOINTS = ["users", "users_bulk", "events", "events_batch", "events_bulk", "segment"] as const;
export type RateLimitedEndpoint = (typeof RATE_LIMITED_ENDPOINTS)[number];

const rateLimit = z.strictObject({
  per_second: z.number().positive().default(1000),
  burst: z.number().int().positive().default(2000),
});

const sendWindow = z
  .strictObject({
    // "24:00" means end of day (SPEC §1): an end only. As a start it opens no window at all, so say so there.
    start: clockTime.refine((m) => m < 24 * 60, { error: 'a time "HH:MM" from 00:00 to 23:59 ("24:00" is only an end)' }).default(9 * 60),
    end: clockTime.default(18 * 60),
    days: z.array(z.enum(WEEKDAYS)).min(1).default([...WEEKDAYS]),
  })
  .refine((w) => w.start < w.end, { error: "an end after the start", path: ["end"], when: (ctx) => ctx.issues.length === 0 });

const webhookSchema = z.strictObject({
  url: httpUrl,
  // Any non-empty secret signs (SPEC §10 sets no length); a short one is a warning (warnings.ts).
  secret: z.string().min(1, { error: "a non-empty secret" }),
  events: z
    .array(z.enum(["email.sent", "email.opened", "email.clicked", "email.bounced", "email.unsubscribed", "draft.created", "quarantine.added"]))
    .min(1)
    .default(["email.sent", "email.opened", "email.clicked", "email.bounced", "email.unsubscribed"]),
});

/** "smtp://" or "smtps://" with a host and, if any, a port 0–65535. Checked here because nodemailer takes
 * "smtp://" or "smtp://host:abc" without a word and fails only at the first send, long after start-up. A raw
 * "#", "/" or "?" in the password ends the host part early, so the URL does not parse either. */
const smtpUrl = z.string().refine((s) => /^smtps?:\/\//.test(s) && URL.canParse(s) && new URL(s).hostname !== "", {
  error: 'an SMTP URL like "smtps://user:pass@host:465" with a host (percent-encode "#", "/", "?" in the user or password: %23, %2F, %3F)',
});

const smtpSchema = z.strictObject({
  url: smtpUrl,
  from: mailbox.optional(),
  max_connections: z.number().int().positive().default(5),
});

/** An OpenAI-compatible endpoint that writes drafts (SPEC §8): for every project, or one project's own. */
const draftingSchema = z.strictObject({
  base_url: httpUrl,
  model: z.string().min(1),
  api_key: z.string().optional(),
  timeout: timerDuration.default(20_000),
});

export const projectSchema = z.strictObject({
  id: slug,
  name: z.string().min(1).optional(),
  autopilot: z.boolean().default(false),
  timezone: timeZone.default("UTC"),
  review_window: duration.default(2 * 3_600_000),
  send_window: sendWindow.default({ start: 9 * 60, end: 18 * 60, days: [...WEEKDAYS] }),
  frequency_cap: z
    .strictObject({ per_day: z.number().int().min(0).default(1), per_week: z.number().int().min(0).default(3) })
    .default({ per_day: 1, per_week: 3 }),
  sender: z.strictObject({ from: mailbox.optional(), reply_to: mailbox.optional() }).default({}),
  retention_days: z.number().int().min(0).default(0),
  buffer_ttl: duration.default(7 * 86_400_000),
  churn_grace: duration.default(14 * 86_400_000),
  smtp: smtpSchema.optional(),
  drafting: draftingSchema.optional(),
  rules: z.array(ruleSchema).default([]),
  audiences: z.array(audienceSchema).default([]),
  webhooks: z.array(webhookSchema).default([]),
})
  // The display name defaults to the id (config.example.toml), so every page and template has one to show.
  .transform((p) => ({ ...p, name: p.name ?? p.id }));

export const configSchema = z.strictObject({
  server: z
    .strictObject({ listen: listenSchema.default("127.0.0.1:8080"), public_url: publicUrl.optional() })
    .default({ listen: "127.0.0.1:8080" }),
  database: z
    .strictObject({
      url: z
        .string()
        .regex(/^(file:.|(libsql|https?|wss?):\/\/.)/, { error: 'a "file:" path or a libsql://, http(s):// URL' })
        .default("file:./data/vibefollow.db"),
      auth_token: z.string().optional(),
      synchronous: z.enum(["full", "normal"]).default("full"),
      busy_timeout: timerDuration.default(5_000),
    })
    .default({ url: "file:./data/vibefollow.db", synchronous: "full", busy_timeout: 5_000 }),
  smtp: smtpSchema.optional(),
  evaluator: z
    .strictObject({ schedule: cronExpression.default("0 * * * *"), enabled: z.boolean().default(true) })
    .default({ schedule: "0 * * * *", enabled: true }),
  ingest: z
    .strictObject({
      rate_limit: rateLimit.default({ per_second: 1000, burst: 2000 }),
      // Keyed by endpoint: a misspelt one ("event") must be an error, not a limit that silently never applies.
      rate_limits: z.partialRecord(z.enum(RATE_LIMITED_ENDPOINTS), rateLimit).default({}),
      backfill_queue_limit: z.number().int().positive().default(50_000),
      commit_interval: timerDuration.default(0),
      commit_max_items: z.number().int().positive().default(10_000),
      commit_thread: z.boolean().default(true),
    })
    .default({ rate_limit: { per_second: 1000, burst: 2000 }, rate_limits: {}, backfill_queue_limit: 50_000, commit_interval: 0, commit_max_items: 10_000, commit_thread: true }),
  normaliser: z
    .strictObject({ batch_size: z.number().int().positive().default(1000), idle_interval: timerDuration.default(50), thread: z.boolean().default(true) })
    .default({ batch_size: 1000, idle_interval: 50, thread: true }),
  drafting: draftingSchema.optional(),
  tracking: z
    .strictObject({ opens: z.boolean().default(false), clicks: z.boolean().default(false) })
    .default({ opens: false, clicks: false }),
  projects: z.array(projectSchema).default([]),
});

export type Config = z.output<typeof configSchema>;
export type ProjectConfig = Config["projects"][number];
export type SmtpConfig = z.output<typeof smtpSchema>;
export type WebhookConfig = z.output<typeof webhookSchema>;

/** Whether any project's mail leaves over SMTP (a project's own [projects.smtp], or the instance's [smtp]). */
export const sendsOverSmtp = (config: Config): boolean => config.smtp !== undefined || config.projects.some((p) => p.smtp !== undefined);
