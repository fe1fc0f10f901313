import { toSnakeCase } from "../lib/case";

/**
 * Segment event names → Vibefollow's canonical events (SPEC §4, §13). The left side follows Segment's B2B SaaS
 * spec (`Signed Up`, `Trial Started`, `Invite Sent`, …) plus the common spellings teams use for the same
 * moments. Matching ignores case and collapses spaces, `_` and `-` (`signed_up`, `Signed-Up` and `SIGNED UP`
 * all match). Anything not listed is snake_cased (`Report Exported` → `report_exported`, `Cart: Item Added` →
 * `cart_item_added`). docs/segment.md carries the same table for users.
 */
export const SEGMENT_EVENT_MAP: Readonly<Record<string, string>> = Object.freeze({
  "signed up": "user_signed_up",
  "user signed up": "user_signed_up",
  "trial started": "trial_started",
  "trial ending": "trial_expiring",
  "trial ending soon": "trial_expiring",
  "trial expiring": "trial_expiring",
  "trial will end": "trial_expiring",
  "feature used": "feature_used",
  "onboarding step completed": "onboarding_step",
  "onboarding step": "onboarding_step",
  "subscription changed": "subscription_changed",
  "subscription updated": "subscription_changed",
  "subscription started": "subscription_changed",
  "subscription created": "subscription_changed",
  "plan changed": "subscription_changed",
  "plan upgraded": "subscription_changed",
  "plan downgraded": "subscription_changed",
  "subscription cancelled": "subscription_cancelled",
  "subscription canceled": "subscription_cancelled",
  "plan cancelled": "subscription_cancelled",
  "plan canceled": "subscription_cancelled",
  "payment failed": "payment_failed",
  "invoice payment failed": "payment_failed",
  "order payment failed": "payment_failed",
  "invite sent": "user_invited",
  "user invited": "user_invited",
});

function matchKey(event: string): string {
  return event.trim().toLowerCase().replace(/[\s_-]+/g, " ");
}

/** The Vibefollow event name for a Segment `event`. */
export function mapEventName(event: string): string {
  const key = matchKey(event);
  // Own keys only: "constructor" is a custom event, not Object.prototype's function.
  return Object.hasOwn(SEGMENT_EVENT_MAP, key) ? SEGMENT_EVENT_MAP[key]! : snakeEventName(event);
}

/**
 * A name outside the table, snake_cased: words joined by single `_`, and punctuation taken as a word break
 * (`Cart: Item Added` → `cart_item_added`, `Page.Viewed` → `page_viewed`), so that a rule can name it. A leading
 * `$` stays, for the API's reserved-name check to see; a name of punctuation alone is left as it came.
 */
function snakeEventName(event: string): string {
  const snake = toSnakeCase(event.trim());
  const lead = snake.startsWith("$") ? "$" : "";
  const words = snake.slice(lead.length).replace(/[^\p{L}\p{N}]+/gu, "_").replace(/^_+|_+$/g, "");
  return words === "" ? snake : lead + words;
}

/** True when the event is the "completed" flavour of onboarding (it sets `completed: true` unless sent). */
export function isCompletedStep(event: string): boolean {
  return matchKey(event) === "onboarding step completed";
}
