/**
 * HTML for the dashboard, escaped by default. Every value interpolated into an `html` template is escaped
 * unless it is itself `Html` made by this module (another `html` template, `join`, or `trusted` for constant
 * markup written in our own source). So client data — traits, payloads, draft bodies — can only reach a page
 * as text. This is why the dashboard uses a tagged template rather than JSX: with @kitajs/html, children are
 * NOT escaped unless marked `safe`, so one forgotten attribute would be an XSS hole; here forgetting is safe.
 *
 * @example html`<td>${user.email}</td>` // "<td>a&lt;b@x.io</td>" for the email "a<b@x.io"
 */
import { escapeHtml } from "../lib/html";

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}


type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup from our own source code (never from a client or the database). */
export function trusted(markup: string): Html {
  return new Html(markup);
}

export function join(parts: readonly Value[], separator: Html | string = ""): Html {
  return new Html(parts.map(render).join(render(separator)));
}

/** A URL path with escaped query values: `href("/dashboard/users", { project: "a", q: "x y" })`. */
export function href(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}
