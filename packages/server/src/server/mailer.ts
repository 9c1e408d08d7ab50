/**
 * Mail from the auth server (password-reset and address-verification links), sent over SMTP by nodemailer to the
 * relay `REVOCABLE_SMTP_URL` names, from `REVOCABLE_SMTP_FROM`.
 *
 * Mail leaves one message at a time, off the request's path: {@link Mailer.enqueue} returns at once, so an answer
 * takes the same time whether a message was sent or not, and a flood of requests cannot open a flood of SMTP
 * connections. A message that fails is logged (never its text: it holds a link) and dropped; the person asks again.
 *
 * @example
 * const mailer = createMailer({ url: "smtps://user:pass@smtp.example.com", from: "Auth <auth@example.com>" }, app.log)
 * mailer.enqueue(async () => ({ to: "alice@example.com", subject: "Reset your password", text }))
 * await mailer.close()   // waits for the queue
 */
import { createTransport } from "nodemailer"

export interface MailSettings {
  /** smtp://user:pass@host:port (STARTTLS when the relay offers it) or smtps:// (TLS from the start). */
  url: string
  /** The From header: "auth@example.com" or "Example Auth <auth@example.com>". */
  from: string
}

export interface Mail {
  to: string
  subject: string
  text: string
}

export interface MailLogger {
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

export interface Mailer {
  /**
   * Queues a job that decides what to send (null: nothing) and sends it. Returns at once; the job runs after the
   * ones queued before it. Past {@link MAX_QUEUED} waiting jobs, the job is dropped and a warning logged.
   */
  enqueue(job: () => Promise<Mail | null>, label: string): void
  /** Resolves once every job queued so far has run. */
  settled(): Promise<void>
  /** Waits for the queue, then closes the SMTP connection. */
  close(): Promise<void>
}

/** Jobs waiting at most: beyond, a burst of requests is shed rather than kept in memory. */
export const MAX_QUEUED = 1000
/** A relay that does not answer must not hold the queue for long (nodemailer waits 2 to 10 minutes by default). */
const SMTP_TIMEOUT_MS = 30_000

export function createMailer(settings: MailSettings, log: MailLogger): Mailer {
  const transport = createTransport(
    { url: settings.url, connectionTimeout: SMTP_TIMEOUT_MS, greetingTimeout: SMTP_TIMEOUT_MS, socketTimeout: SMTP_TIMEOUT_MS },
    { from: settings.from },
  )
  let queue: Promise<void> = Promise.resolve()
  let waiting = 0

  async function run(job: () => Promise<Mail | null>, label: string): Promise<void> {
    waiting--
    try {
      const mail = await job()
      if (mail !== null) await transport.sendMail(mail)
    } catch (error) {
      // The message is not logged: the link in it would give the account to whoever reads the log.
      log.error({ err: { message: (error as Error).message, code: (error as { code?: unknown }).code }, mail: label }, "mail not sent")
    }
  }

  return {
    enqueue(job, label) {
      if (waiting >= MAX_QUEUED) return log.warn({ mail: label, waiting }, "mail queue full: message dropped")
      waiting++
      queue = queue.then(() => run(job, label))
    },
    settled: () => queue,
    async close() {
      await queue
      transport.close()
    },
  }
}
