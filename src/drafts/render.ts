import { filters, Liquid, Tag, type TagToken, type TopLevelToken } from "liquidjs";
import type { ConfigProblem } from "../config/load";
import type { TemplateSet } from "./default-templates";
import { escapeMarkup, htmlToText } from "../lib/html";

/**
 * Rendering with Liquid (liquidjs). Subject and text are plain text: nothing is escaped. The HTML engine escapes
 * every output (`| raw` opts out), so a user named `<script>` cannot inject markup into an email.
 * `strictFilters` makes a misspelled filter a parse error, caught when the config loads.
 */
// `date` formats in UTC, whatever the server's TZ, so the same draft renders the same everywhere. Rendering runs
// on the main thread: a template that loops for long ({% for i in (1..100000000) %}) would stall every request,
// so a render is stopped after RENDER_LIMIT_MS or MEMORY_LIMIT allocations, and fails like any broken template
// (src/drafts/create.ts falls back to the rule's default). An email template renders in well under a millisecond.
const RENDER_LIMIT_MS = 250;
const MEMORY_LIMIT = 10_000_000;
const limits = { renderLimit: RENDER_LIMIT_MS, memoryLimit: MEMORY_LIMIT };
// `templates: {}`: no file system. liquidjs would otherwise let `{% include 'vibefollow.toml' %}` put any file under
// the working directory (the config, with its secrets) into an email.
const options = { strictFilters: true, jsTruthy: true, timezoneOffset: 0, templates: {}, ...limits };
const plainEngine = new Liquid(options);
const htmlEngine = new Liquid({ ...options, outputEscape: "escape" });

/** The tags that read other template files: refused when the template is parsed, so check-config reports them. */
class NoFiles extends Tag {
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    throw new Error(`{% ${token.name} %} is not available: a template cannot read other files`);
  }
  *render(): Generator<unknown, void, unknown> {}
}
for (const engine of [plainEngine, htmlEngine]) for (const tag of ["include", "render", "layout"]) engine.registerTag(tag, NoFiles);
// In HTML, `| escape` and `| escape_once` (written out of habit, or in templates brought from elsewhere) already
// give escaped text: as the last filter they count as `raw`, or the engine's own escaping doubled them (`&amp;lt;`).
for (const name of ["escape", "escape_once"]) {
  const builtIn = filters[name]!;
  htmlEngine.registerFilter(name, { handler: typeof builtIn === "function" ? builtIn : builtIn.handler, raw: true });
}

export type Rendered = { subject: string; text: string; html: string };

/** Parsed templates by source: a first run renders thousands of drafts from the same few templates. */
const parsed = new Map<string, ReturnType<Liquid["parse"]>>();

function render(engine: Liquid, source: string, context: Record<string, unknown>): string {
  const key = `${engine === htmlEngine ? "h" : "p"}\0${source}`;
  let templates = parsed.get(key);
  if (!templates) {
    templates = engine.parse(source);
    if (parsed.size > 1000) parsed.clear(); // bounded: templates come from the config, this never grows in practice
    parsed.set(key, templates);
  }
  return engine.renderSync(templates, context) as string;
}

/** Renders a template set; html is derived from the text when the set has none, and text from the html when it has
 * no text. Adds the unsubscribe footer. */
export function renderTemplates(set: TemplateSet, context: Record<string, unknown>): Rendered {
  const subject = oneLine(render(plainEngine, set.subject, context));
  const ownHtml = set.html !== undefined ? render(htmlEngine, set.html, context) : undefined;
  const text = set.text !== undefined ? render(plainEngine, set.text, context).trim() : htmlToText(ownHtml ?? "");
  const html = ownHtml ?? textToHtml(text);
  return finishContent({ subject, text, html }, String(context.unsubscribe_url ?? ""));
}

/**
 * What every draft's content goes through before it is stored — rendered, edited or written by the model: NUL
 * characters are removed (libSQL cuts a text at the first one when reading it back, which lost the rest of the
 * body and its unsubscribe footer), and from the subject every control character (`headerText`); then the footer
 * every message carries is added unless the content already shows the unsubscribe link.
 */
export function finishContent(content: Rendered, url: string): Rendered {
  const r = { subject: headerText(content.subject), text: withoutNul(content.text), html: withoutNul(content.html) };
  if (!url) return r;
  const text = r.text.includes(url) ? r.text : `${r.text}\n\n--\nDon't want these emails? Unsubscribe: ${url}`;
  const escaped = escapeMarkup(url);
  const footer = `<p style="color:#888;font-size:12px;margin-top:32px">Don't want these emails? <a href="${escaped}">Unsubscribe</a>.</p>`;
  const html = r.html.includes(escaped) ? r.html : r.html.includes("</body>") ? r.html.replace("</body>", `${footer}</body>`) : r.html + footer;
  return { subject: r.subject, text, html };
}

/** Plain text → simple HTML: paragraphs, line breaks, links; every character of the text kept (`escapeMarkup`). */
export function textToHtml(text: string): string {
  const paragraphs = text.split(/\n{2,}/).map((p) => `<p>${linkify(escapeMarkup(p)).replace(/\n/g, "<br>\n")}</p>`);
  return `<div style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#222">\n${paragraphs.join("\n")}\n</div>`;
}

function linkify(escaped: string): string {
  return escaped.replace(/https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g, (u) => `<a href="${u}">${u}</a>`);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Parse errors of one template string, or undefined when it parses. */
export function templateError(source: string, html = false): string | undefined {
  try {
    (html ? htmlEngine : plainEngine).parse(source);
    return undefined;
  } catch (e) {
    return ((e as Error).message ?? String(e)).split("\n")[0];
  }
}

/** Checks every rule template in the config (called from config/load.ts), one problem per broken template. */
export function checkTemplates(tree: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // Read from the config tree as written (not the validated config), so a template's problem is reported beside
  // the others instead of only once those are fixed.
  const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.filter((v) => v !== null && typeof v === "object") : []);
  list((tree as { projects?: unknown } | null)?.projects).forEach((project, i) => {
    list(project.rules).forEach((rule, j) => {
      const template = rule.template !== null && typeof rule.template === "object" ? (rule.template as Record<string, unknown>) : {};
      for (const part of ["subject", "text", "html"] as const) {
        const source = template[part];
        if (typeof source !== "string") continue;
        const error = templateError(source, part === "html");
        if (error) {
          problems.push({
            path: `projects[${i}].rules[${j}].template.${part}`,
            expected: `a valid Liquid template (rule "${rule.id}")`,
            found: error,
          });
        }
      }
    });
  });
  return problems;
}

const withoutNul = (s: string) => (s.includes("\0") ? s.replaceAll("\0", "") : s);
/** A subject is a header: no control characters (ESC, BEL… from a client's name; line breaks and tabs become spaces). */
const headerText = (s: string) => s.replace(/[\t\n\r]/g, " ").replace(/[\u0000-\u001F\u007F-\u009F]/g, "");
