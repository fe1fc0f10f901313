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
  return visibleText(escapeMarkup(text));
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

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };
/** A tag: "<" then a letter, "/" or "!" ("a < b" is text, as in a browser); [^<>] so that a stray "<" ends it and a text
 * full of them is not rescanned from each. */
const TAG = /<[a-zA-Z\/!][^<>]*>/g;

/**
 * The plain text of an HTML document, for the text part of an email whose template only has HTML: blocks become
 * paragraphs, `<br>` a line break, a link `label (url)`; `<head>`, `<style>` and `<script>` are dropped and
 * entities decoded. `htmlToText('<p>Hi &amp; <a href="https://x.io">go</a></p>')` → `Hi & go (https://x.io)`.
 */
export function htmlToText(html: string): string {
  const decode = (s: string) =>
    s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      const code = e[0] === "#" ? (e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)) : undefined;
      if (code !== undefined) return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
      return ENTITIES[e.toLowerCase()] ?? m;
    });
  return html
    // An unclosed comment or <style> hides the rest, as in a browser (and each is scanned once, not from every start).
    .replace(/<!--[\s\S]*?(?:-->|$)/g, "")
    .replace(/<(head|style|script|title)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, "")
    .replace(/\s+/g, " ") // HTML's own line breaks are spaces; only the tags below make lines
    // The label stops at the next <a or </a: a lazy [\s\S]*? would rescan the rest of the text from every unclosed <a.
    .replace(/<a\b[^<>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^<>]*>([^<]*(?:<(?!\/?a\b)[^<]*)*)<\/a\s*>/gi, (_m, dq: string | undefined, sq: string | undefined, label: string) => {
      const href = decode(dq ?? sq ?? "").trim();
      const text = label.replace(TAG, "").trim();
      return !text || decode(text) === href ? href : `${text} (${href})`;
    })
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/?(p|div|h[1-6]|ul|ol|table|tr|blockquote|section|article|header|footer|hr)\b[^<>]*>/gi, "\n\n")
    .replace(/<li\b[^<>]*>/gi, "\n")
    .replace(TAG, "")
    .split("\n")
    .map((line) => decode(line).trim())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
