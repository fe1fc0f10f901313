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

const PII_KEYS = new Set(["email", "name", "first_name", "last_name", "firstname", "lastname", "full_name", "fullname", "invited_email", "invitedemail"]);

/** A JSON value with every email/name-like key masked (payloads and traits shown to viewers). */
export function maskJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = k.replace(/[_-]/g, "").toLowerCase();
    const pii = PII_KEYS.has(k.toLowerCase()) || PII_KEYS.has(key) || key.endsWith("email");
    out[k] = pii && typeof v === "string" ? (v.includes("@") ? maskEmail(v) : maskName(v)) : maskJson(v);
  }
  return out;
}

/** Replaces occurrences of a user's email and name inside free text (draft bodies shown to viewers). */
export function maskText(text: string, email: string | null | undefined, name: string | null | undefined): string {
  let out = text;
  if (email) out = out.split(email).join(maskEmail(email));
  if (name) for (const part of name.trim().split(/\s+/).filter((p) => p.length > 1)) out = out.split(part).join(maskName(part));
  return out;
}
