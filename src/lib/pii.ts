/**
 * Which values are a person's details (SPEC §2, §11: email and name are PII): the dashboard masks them for
 * viewers, and a draft records the ones its text was made from (src/drafts/create.ts `piiTermsOf`).
 */

/** Names of things that are not people: `plan_name`, `feature_name`, … are not masked. */
const NOT_PERSON = new Set(["plan", "feature", "company", "org", "organization", "organisation", "workspace", "team", "product", "event", "file", "project", "app", "domain", "host", "step", "page", "template", "campaign", "source", "rule", "audience", "browser", "os", "device", "country", "city", "region", "tier", "package", "repo", "branch", "channel", "group", "integration", "provider", "model", "path", "screen", "category", "tag", "field"]);

/** Keys of contact details, whatever the value looks like (`email_address`, `contactEmail`, `phone`, …). */
const CONTACT = /email|mail|phone|mobile|contact/;

/**
 * Keys whose string values are PII: anything about contact details, and anything ending in `name`
 * (`displayName`, `username`, `inviter_name`, …) except names of things that are not people. Masking a harmless
 * value is a smaller mistake than showing a person's name.
 */
export function isPiiKey(key: string): boolean {
  const k = key.replace(/[_\-\s.]/g, "").toLowerCase();
  if (CONTACT.test(k)) return true;
  return k.endsWith("name") && !NOT_PERSON.has(k.slice(0, -"name".length));
}

/** Every non-empty string under a PII key (also inside a list or object there: `contact: {first, last}`), at any
 * depth of a JSON value (traits, event properties). */
export function piiStrings(value: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown, pii: boolean) => {
    if (typeof v === "string") return void (pii && v.trim() !== "" && found.push(v));
    if (Array.isArray(v)) return v.forEach((x) => walk(x, pii));
    if (v === null || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) walk(x, pii || isPiiKey(k));
  };
  walk(value, false);
  return found;
}
