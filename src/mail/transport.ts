import type { Readable } from "node:stream";
import type { Transporter } from "nodemailer";
import type { Config, ProjectConfig, SmtpConfig } from "../config/schema";
import { gateFinalDot, type BeforeFinalDot } from "./final-dot";

/**
 * Where a message goes (listmonk's "Messenger"): SMTP through nodemailer, or the built-in outbox. A send either
 * resolves with the server's reply or throws the transport's error (classified by `classifyFailure`).
 */
export type Messenger = {
  kind: "smtp" | "outbox";
  /** `beforeFinalDot` (SMTP only) runs once the server took DATA and the body; the final dot waits for it. */
  send(message: { from: string; to: string; raw: string; beforeFinalDot?: BeforeFinalDot }): Promise<{ response: string }>;
  close(): void;
};

/** The outbox: the .eml is already stored on the message row; nothing leaves the machine. */
const outbox: Messenger = {
  kind: "outbox",
  async send() {
    return { response: "stored in the outbox" };
  },
  close() {},
};

function smtpMessenger(smtp: SmtpConfig): Messenger {
  // nodemailer loads on first use: a process that never sends (or only uses the outbox) starts faster.
  let transporter: Promise<Transporter> | undefined;
  const open = () =>
    (transporter ??= import("nodemailer").then(({ default: nodemailer }) => {
      // Pooled: a burst of sends reuses up to max_connections connections instead of one handshake per message.
      const t = nodemailer.createTransport({
        url: smtp.url,
        pool: true,
        maxConnections: smtp.max_connections,
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
        ...(isOpportunisticTls(smtp.url) ? { tls: { rejectUnauthorized: false } } : {}),
      } as Parameters<typeof nodemailer.createTransport>[0]);
      // The gate is the last stage of the message stream, the one the connection pipes after DATA's 354.
      t.use("stream", (mail, done) => {
        const hook = (mail.data as { beforeFinalDot?: BeforeFinalDot }).beforeFinalDot;
        if (hook) mail.message.processFunc((input: Readable) => gateFinalDot(input, hook));
        done();
      });
      return t;
    }));
  return {
    kind: "smtp",
    async send({ from, to, raw, beforeFinalDot }) {
      // `raw` sends the stored bytes as they are, so a retry carries the same Message-ID.
      const data = { envelope: { from: envelopeAddress(from), to: [to] }, raw, beforeFinalDot };
      const info = await (await open()).sendMail(data as Parameters<Transporter["sendMail"]>[0]);
      return { response: String(info.response ?? "") };
    },
    close() {
      void transporter?.then((t) => t.close());
    },
  };
}

/**
 * smtp:// without credentials upgrades with STARTTLS when the server offers it, without verifying its certificate
 * (RFC 7435 opportunistic TLS, Postfix's "may"). Verifying would protect nothing: the mail goes in plain text to a
 * server that offers no STARTTLS anyway, so an attacker would only strip the offer. It would only stop mail to
 * relays with a self-signed or expired certificate, smtp-server's built-in one included. With credentials (a
 * password to protect), smtps://, or ?requireTLS=true the certificate is verified — except toward a loopback
 * address (a relay on the same machine), where no one could stand in between. A URL option
 * `tls.rejectUnauthorized` wins either way (nodemailer merges the URL's options last).
 */
export function isOpportunisticTls(url: string): boolean {
  const u = new URL(url);
  if (u.protocol !== "smtp:" || u.searchParams.get("requireTLS") === "true") return false;
  return (u.username === "" && u.password === "") || isLoopback(u.hostname);
}

const isLoopback = (host: string) => host === "localhost" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);

function envelopeAddress(from: string): string {
  const m = /<([^>]+)>\s*$/.exec(from);
  return (m ? m[1]! : from).trim();
}

/** The SMTP settings that apply to a project: its own, else the global section, else none (outbox). */
export function smtpFor(config: Config, project: ProjectConfig): SmtpConfig | undefined {
  return project.smtp ?? config.smtp;
}

/** One messenger per distinct SMTP URL, created on first use and closed on stop. */
export class Messengers {
  private readonly byUrl = new Map<string, Messenger>();

  constructor(private readonly config: Config) {}

  forProject(project: ProjectConfig): Messenger {
    const smtp = smtpFor(this.config, project);
    if (!smtp) return outbox;
    let m = this.byUrl.get(smtp.url);
    if (!m) {
      m = smtpMessenger(smtp);
      this.byUrl.set(smtp.url, m);
    }
    return m;
  }

  forKind(kind: "smtp" | "outbox", project: ProjectConfig): Messenger {
    return kind === "outbox" ? outbox : this.forProject(project);
  }

  close(): void {
    for (const m of this.byUrl.values()) m.close();
    this.byUrl.clear();
  }
}

/** `cancel`: not a delivery failure — the draft no longer applies (SPEC §8) and ends `cancelled`, not `failed`. */
export type FailureClass = { permanent: boolean; suppress: boolean; detail: string; cancel?: boolean };

/**
 * Temporary (4xx, connection, timeout, authentication — fixable without touching the message) → retry with
 * backoff. Permanent (5xx) → failed. A 5.1.x enhanced status (bad mailbox/address) is a hard bounce → suppress.
 */
export function classifyFailure(error: unknown): FailureClass {
  const e = error as { responseCode?: number; response?: string; code?: string; command?: string; message?: string };
  const detail = (e.response ?? e.message ?? String(error)).slice(0, 500);
  const code = typeof e.responseCode === "number" ? e.responseCode : undefined;
  if (code === undefined || code < 500 || e.code === "EAUTH") return { permanent: false, suppress: false, detail };
  return { permanent: true, suppress: isRecipientBounce(e.command, detail), detail };
}

/**
 * A hard bounce is a 5.1.x status about the recipient (SPEC §9). A refused MAIL FROM is about our sender, and so
 * are 5.1.7 and 5.1.8 (RFC 3463: the sender's address): suppressing on them would suppress every recipient of a
 * project whose sender domain is refused. The status must stand alone, not inside an IP address (192.5.1.10).
 */
function isRecipientBounce(command: string | undefined, detail: string): boolean {
  if (command === "MAIL FROM") return false;
  const status = /(?<![\d.])5\.1\.(\d{1,3})(?![\d.])/.exec(detail);
  return status !== null && status[1] !== "7" && status[1] !== "8";
}
