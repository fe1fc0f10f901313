import { escapeHtml } from "../lib/html";
import { isPiiKey, piiStrings } from "../lib/pii";

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

/**
 * Whose strings a text may hold: the user's email and name columns and traits (JSON text) as they are now, and
 * `terms` — the PII a draft was rendered from (`pii_terms`, recorded at creation: src/drafts/create.ts), which
 * still holds a name or address the user has since changed, or an invitee's from the triggering event.
 */
export type Person = { email: string | null | undefined; name: string | null | undefined; traits?: string | null; terms?: readonly string[] | null };

/** Every string under an email/name-like key of the traits (`first_name`, `last_name`, `nickname`…), where templates
 * pick a name from. */
function traitSecrets(traits: string | null | undefined): string[] {
  if (!traits) return [];
  try {
    return piiStrings(JSON.parse(traits));
  } catch {
    return [];
  }
}

/** An email address inside free text: a template that printed someone else's, an SMTP error quoting the
 * recipient's. */
const EMAIL_IN_TEXT = /[^\s@<>()[\]"',;:]+@[^\s@<>()[\]"',;:]+\.[\p{L}\p{N}-]{2,}/gu;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Masks, inside free text shown to viewers (draft and message text, errors): the person's email and names — the
 * name column, the name-like traits a template may use (`first_name`) and the draft's recorded terms — as whole
 * words in any letter case (`{{ user.name | upcase }}`), and every email address at all. Also in their
 * HTML-escaped form, which is how an HTML body holds `D'Arcy` (`D&#39;Arcy`) or `<b>`; with `html`, names are
 * masked in the text between tags only.
 */
export function maskText(text: string, person: Person, html = false): string {
  const secrets = [person.email, person.name, ...traitSecrets(person.traits), ...(person.terms ?? [])].filter((x): x is string => Boolean(x));
  let out = text;
  for (const email of secrets.filter((x) => x.includes("@"))) {
    for (const form of new Set([email, escapeHtml(email)])) out = out.split(form).join(form === email ? maskEmail(email) : escapeHtml(maskEmail(email)));
  }
  out = out.replace(EMAIL_IN_TEXT, (found) => maskEmail(found));
  const words = new Set<string>();
  for (const name of secrets.filter((x) => !x.includes("@"))) {
    for (const word of name.trim().split(/\s+/)) if (word.length > 1) words.add(word).add(escapeHtml(word));
  }
  if (words.size === 0) return out;
  // Longest first, so that "Annabel" is masked whole before "Ann" could match inside it.
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${[...words].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|")})(?![\\p{L}\\p{N}])`, "giu");
  const maskNames = (segment: string) => segment.replace(pattern, (found) => maskName(found));
  // In HTML, names are looked for between the tags: a name like "Li" or "Em" must not break `<li>` or `<em>`.
  return html ? out.split(/(<[^>]*>)/).map((part, i) => (i % 2 === 1 ? part : maskNames(part))).join("") : maskNames(out);
}
