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

function isPiiKey(key: string): boolean {
  const k = key.replace(/[_\-\s.]/g, "").toLowerCase();
  if (k.endsWith("email")) return true;
  return k.endsWith("name") && !NOT_PERSON.has(k.slice(0, -"name".length));
}

/** A JSON value with every email/name-like key masked (payloads and traits shown to viewers). */
export function maskJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isPiiKey(k) && typeof v === "string" ? (v.includes("@") ? maskEmail(v) : maskName(v)) : maskJson(v);
  }
  return out;
}

/**
 * Replaces occurrences of a user's email and name inside free text (draft bodies shown to viewers) — also in
 * their HTML-escaped form, which is how an HTML body holds `D'Arcy` (`D&#39;Arcy`) or `<b>`.
 */
export function maskText(text: string, email: string | null | undefined, name: string | null | undefined): string {
  let out = text;
  const replace = (secret: string, masked: string) => {
    for (const form of new Set([secret, escapeHtml(secret)])) out = out.split(form).join(form === secret ? masked : escapeHtml(masked));
  };
  if (email) replace(email, maskEmail(email));
  if (name) for (const part of name.trim().split(/\s+/).filter((p) => p.length > 1)) replace(part, maskName(part));
  return out;
}
