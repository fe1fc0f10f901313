import type { Config, ProjectConfig } from "../config/schema";
import { now } from "../lib/clock";
import { publicBase, trackingToken } from "./tokens";

export type ComposeInput = {
  config: Config;
  project: ProjectConfig;
  messageId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  unsubscribeUrl: string;
  secret: string;
  /** Test sends carry a marker in the subject and never get tracking. */
  test?: boolean;
};

export type Composed = { eml: string; from: string; smtpMessageId: string; links: string[] };

/** The sender of a project's mail: `sender.from`, else the SMTP section's `from`, else a local placeholder. */
export function fromAddress(config: Config, project: ProjectConfig): string {
  return project.sender.from ?? project.smtp?.from ?? config.smtp?.from ?? `"${(project.name).replace(/"/g, "")}" <vibefollow@localhost>`;
}

function domainOf(address: string): string {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(address);
  return m ? m[1]! : "vibefollow.local";
}

/**
 * Renders the whole message (RFC 5322, via nodemailer's composer) once, when it is queued: a retry sends the
 * same bytes with the same Message-ID, and the outbox stores exactly what would have left.
 */
export async function composeMessage(input: ComposeInput): Promise<Composed> {
  const { config, project } = input;
  const from = fromAddress(config, project);
  const smtpMessageId = `<${input.messageId}@${domainOf(from)}>`;
  const { html, links } = input.test ? { html: input.html, links: extractLinks(input.html, input.unsubscribeUrl) } : applyTracking(input);
  // Loaded on first use, like the transport (start-up time).
  const { default: MailComposer } = await import("nodemailer/lib/mail-composer");
  const composer = new MailComposer({
    from,
    to: input.to,
    replyTo: project.sender.reply_to,
    subject: input.test ? `[Test] ${input.subject}` : input.subject,
    text: input.text,
    html,
    messageId: smtpMessageId,
    date: new Date(now()),
    headers: {
      "List-Unsubscribe": `<${input.unsubscribeUrl}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
      "X-Vibefollow-Message": input.messageId,
      ...(input.test ? { "X-Vibefollow-Test": "1" } : {}),
    },
  });
  const eml = await new Promise<Buffer>((resolve, reject) => composer.compile().build((err, out) => (err ? reject(err) : resolve(out))));
  return { eml: eml.toString("utf8"), from, smtpMessageId, links };
}

const HREF = /href="(https?:\/\/[^"]+)"/g;

function unescapeAttr(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The URLs the HTML links to (the unsubscribe link excepted), in order, each once. */
export function extractLinks(html: string, unsubscribeUrl: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(HREF)) {
    const url = unescapeAttr(m[1]!);
    if (url !== unsubscribeUrl && !out.includes(url)) out.push(url);
  }
  return out;
}

/**
 * Optional open/click tracking (SPEC §9, off by default): links become signed redirects that name the link by
 * its index in this message, so the redirect can only ever lead to a URL the message contains.
 */
function applyTracking(input: ComposeInput): { html: string; links: string[] } {
  const links = extractLinks(input.html, input.unsubscribeUrl);
  const base = publicBase(input.config);
  let html = input.html;
  if (input.config.tracking.clicks) {
    html = html.replace(HREF, (whole, raw: string) => {
      const index = links.indexOf(unescapeAttr(raw));
      if (index < 0) return whole;
      return `href="${base}/t/c/${trackingToken(input.secret, input.messageId, `click-${index}`)}"`;
    });
  }
  if (input.config.tracking.opens) {
    const pixel = `<img src="${base}/t/o/${trackingToken(input.secret, input.messageId, "open")}" width="1" height="1" alt="" style="display:none">`;
    html = html.includes("</body>") ? html.replace("</body>", `${pixel}</body>`) : html + pixel;
  }
  return { html, links };
}
