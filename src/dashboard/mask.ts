import { escapeHtml } from "../lib/html";

/**
 * PII masking for the `viewer` role (SPEC §11): email and name are shown as `j***@a***.io` and `J*** D***`.
 * Masking happens when a page is built, from the role of the session — never stored.
 */
export function maskEmail(email: string | null | undefined): string {
  if (!email) return "";
  const at = email.lastIndexOf("@");
  if (at < 0) return maskWord(email);
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  const dot = domain.lastIndexOf(".");
  const masked = dot > 0 ? `${maskWord(domain.slice(0, dot))}${domain.slice(dot)}` : maskWord(domain);
  return `${maskWord(local)}@${masked}`;
}

export function maskName(name: string | null | undefined): string {
  if (!name) return "";
  return name.trim().split(/\s+/).map(maskWord).join(" ");
}

function maskWord(word: string): string {
  const first = Array.from(word)[0] ?? "";
  return `${first}***`;
}

/**
 * Keys whose string values are masked for viewers: anything ending in `email`, and anything ending in `name`
 * (`displayName`, `username`, `inviter_name`, …) except names of things that are not people. Masking a
 * harmless value is a smaller mistake than showing a person's name.
 */
const NOT_PERSON = new Set(["plan", "feature", "company", "org", "organization", "organisation", "workspace", "team", "product", "event", "file", "project", "app", "domain", "host", "step", "page", "template", "campaign", "source", "rule", "audience", "browser", "os", "device", "country", "city", "region", "tier", "package", "repo", "branch", "channel", "group", "integration", "provider", "model", "path", "screen", "category", "tag", "field"]);

/** Keys of contact details, whatever the value looks like (`email_address`, `contactEmail`, `phone`, …). */
const CONTACT = /email|mail|phone|mobile|contact/;

function isPiiKey(key: string): boolean {
  const k = key.replace(/[_\-\s.]/g, "").toLowerCase();
  if (CONTACT.test(k)) return true;
  return k.endsWith("name") && !NOT_PERSON.has(k.slice(0, -"name".length));
}

/** Something that reads as an email address, under any key (broader than ingest's `isEmail` on purpose: here a false
 * match only masks a harmless value). */
const looksLikeEmail = (v: string) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.trim());

/** A JSON value with every email/name-like key (and every email-like value) masked, for viewers. */
export function maskJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskJson);
  if (typeof value === "string") return looksLikeEmail(value) ? maskEmail(value) : value;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isPiiKey(k) && typeof v === "string" ? (v.includes("@") ? maskEmail(v) : maskName(v)) : maskJson(v);
  }
  return out;
}

/** Whose strings a draft's text may hold: the user's email and name columns, and their traits (JSON text). */
export type Person = { email: string | null | undefined; name: string | null | undefined; traits?: string | null };

/** Every string under an email/name-like key of the traits (`first_name`, `last_name`, `nickname`…), where templates
 * pick a name from. */
function traitSecrets(traits: string | null | undefined): string[] {
  if (!traits) return [];
  let value: unknown;
  try {
    value = JSON.parse(traits);
  } catch {
    return [];
  }
  const found: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v === null || typeof v !== "object") return;
    for (const [k, x] of Object.entries(v)) {
      if (isPiiKey(k) && typeof x === "string") found.push(x);
      else walk(x);
    }
  };
  walk(value);
  return found;
}

/**
 * Replaces occurrences of a user's email and names inside free text (draft bodies shown to viewers) — the name
 * column and the name-like traits a template may use (`first_name`) — also in their HTML-escaped form, which is
 * how an HTML body holds `D'Arcy` (`D&#39;Arcy`) or `<b>`.
 */
export function maskText(text: string, person: Person): string {
  let out = text;
  const replace = (secret: string, masked: string) => {
    for (const form of new Set([secret, escapeHtml(secret)])) out = out.split(form).join(form === secret ? masked : escapeHtml(masked));
  };
  const secrets = [person.email, person.name, ...traitSecrets(person.traits)].filter((x): x is string => Boolean(x));
  // Longest first, so that "Ann Lee" is masked whole before "Ann" alone.
  for (const secret of secrets.sort((a, b) => b.length - a.length)) {
    if (secret.includes("@")) replace(secret, maskEmail(secret));
    else for (const part of secret.trim().split(/\s+/).filter((p) => p.length > 1)) replace(part, maskName(part));
  }
  return out;
}
