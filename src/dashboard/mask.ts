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

/**
 * A JSON value (traits, event properties, a quarantined payload) as a viewer may see it. Under an email/name-like
 * key, every value is masked, also a number (`phone`) or a nested list or object (`contact: {first, last}`).
 * Every other string is free text (`bio`, `note`): masked like draft text (`maskText`), with the person's
 * details and the value's own name-like strings as the words to look for, so "write to ann@x.io, Ann Smith"
 * under a harmless key shows neither.
 */
export function maskJson(value: unknown, person: Person = { email: null, name: null }): unknown {
  const text = textMasker({ ...person, terms: [...(person.terms ?? []), ...piiStrings(value)] });
  const walk = (v: unknown, pii: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, pii));
    if (typeof v === "string") return pii ? (v.includes("@") ? maskEmail(v) : maskName(v)) : looksLikeEmail(v) ? maskEmail(v) : text(v);
    if (typeof v === "number") return pii ? maskWord(String(v)) : v;
    if (v === null || typeof v !== "object") return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, pii || isPiiKey(k))]));
  };
  return walk(value, false);
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
  return textMasker(person)(text, html);
}

/** `maskText` for one person, its pattern built once: for the many strings of one JSON value. */
function textMasker(person: Person): (text: string, html?: boolean) => string {
  const secrets = [person.email, person.name, ...traitSecrets(person.traits), ...(person.terms ?? [])].filter((x): x is string => Boolean(x));
  const emails = secrets.filter((x) => x.includes("@"));
  const words = new Set<string>();
  for (const name of secrets.filter((x) => !x.includes("@"))) {
    for (const word of name.trim().split(/\s+/)) if (word.length > 1) words.add(word).add(escapeHtml(word));
  }
  // Longest first, so that "Annabel" is masked whole before "Ann" could match inside it.
  const pattern = words.size === 0
    ? undefined
    : new RegExp(`(?<![\\p{L}\\p{N}])(?:${[...words].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|")})(?![\\p{L}\\p{N}])`, "giu");
  const maskNames = (segment: string) => (pattern ? segment.replace(pattern, (found) => maskName(found)) : segment);
  return (text, html = false) => {
    let out = text;
    for (const email of emails) {
      for (const form of new Set([email, escapeHtml(email)])) out = out.split(form).join(form === email ? maskEmail(email) : escapeHtml(maskEmail(email)));
    }
    out = out.replace(EMAIL_IN_TEXT, (found) => maskEmail(found));
    if (!pattern) return out;
    // In HTML, names are looked for between the tags: a name like "Li" or "Em" must not break `<li>` or `<em>`.
    return html ? out.split(/(<[^>]*>)/).map((part, i) => (i % 2 === 1 ? part : maskNames(part))).join("") : maskNames(out);
  };
}
