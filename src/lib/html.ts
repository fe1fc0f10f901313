const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/**
 * Characters a page must not show as sent: C0 and C1 controls (tab, newline and carriage return aside) and the
 * bidirectional controls, with which a client's text could reorder what is around it on the page
 * (`user\u202Egnp.exe`) or hide itself. They are shown as U+FFFD.
 */
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/**
 * Escapes text for HTML element content and quoted attribute values: `escapeHtml('<b a="1">')` →
 * `&lt;b a=&quot;1&quot;&gt;`, and control characters become U+FFFD.
 */
export function escapeHtml(text: string): string {
  return escapeMarkup(text).replace(INVISIBLE, "\uFFFD");
}

/**
 * Escapes the markup characters only, keeping every other character: for the HTML of an email, where a bidi mark
 * is part of the text (an RTL name's U+200F), not a trick played on one of our pages.
 */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/**
 * JSON text made fit for a page without losing anything: the characters `escapeHtml` would show as U+FFFD are
 * written as JSON escapes (`"\u202e"`) instead — they can only sit inside JSON strings. So a quarantined payload
 * edited in a textarea and posted back still holds them as they were.
 */
export function escapeInvisibleInJson(json: string): string {
  return json.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Text as a page shows it (and as a form field shown with it is posted back): `escapeHtml` without the escaping. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, "\uFFFD");
}
