import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export type Arrival = { envelopeTo: string[]; mail: ParsedMail; raw: string; overTls: boolean };

/**
 * A real SMTP server on a free loopback port that parses every arrival with mailparser. Recipients are answered
 * by their local part: `bounce…` → 550 5.1.1 (hard bounce), `reject…` → 554 5.7.1 (permanent, not a bounce),
 * `tempfail…` → 451 4.3.0 while `tempfailures` > 0 (then accepted). `refuseSender` refuses every MAIL FROM with
 * that reply (a sender domain the server will not take). `secure` speaks implicit TLS (smtps://) with smtp-server's
 * built-in self-signed (and expired) certificate; `starttls` offers STARTTLS with that certificate, as smtp-server does
 * unless told not to.
 */
export async function startSmtpSink(
  opts: { tempfailures?: number; delayMs?: number; refuseSender?: { code: number; text: string }; secure?: boolean; starttls?: boolean } = {},
) {
  const arrivals: Arrival[] = [];
  let tempfailures = opts.tempfailures ?? 0;
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    secure: opts.secure ?? false,
    authOptional: true,
    disabledCommands: opts.starttls ? ["AUTH"] : ["STARTTLS", "AUTH"],
    logger: false,
    // close() waits for open (pooled, idle) client connections only this long before dropping them.
    closeTimeout: 200,
    onMailFrom(_address, _session, callback) {
      if (opts.refuseSender) return callback(Object.assign(new Error(opts.refuseSender.text), { responseCode: opts.refuseSender.code }));
      callback();
    },
    onRcptTo(address, _session, callback) {
      const local = address.address.split("@")[0]!;
      const fail = (code: number, text: string) => callback(Object.assign(new Error(text), { responseCode: code }));
      if (local.startsWith("bounce")) return fail(550, "5.1.1 No such user here");
      if (local.startsWith("reject")) return fail(554, "5.7.1 Message refused");
      if (local.startsWith("tempfail") && tempfailures > 0) {
        tempfailures--;
        return fail(451, "4.3.0 Try again later");
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", async () => {
        // A slow server widens the window in which a sender can die mid-transaction (crash tests).
        if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
        const raw = Buffer.concat(chunks).toString("utf8");
        arrivals.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail: await simpleParser(raw), raw, overTls: session.secure });
        for (const w of waiters.splice(0)) w();
        callback();
      });
    },
  });
  // A client killed mid-transaction resets its connection: that is expected here, not a test failure.
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `${opts.secure ? "smtps" : "smtp"}://127.0.0.1:${port}`,
    arrivals,
    /** Resolves once `n` messages have arrived (or rejects after `ms`). */
    async waitFor(n: number, ms = 10_000): Promise<Arrival[]> {
      const deadline = Date.now() + ms;
      while (arrivals.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} arrivals, got ${arrivals.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
      return arrivals;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>;
