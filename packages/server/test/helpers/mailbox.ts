// A real SMTP server on loopback (smtp-server, port 0) that keeps every message it receives, for the tests of the
// mail the auth server sends. It asks for a login (user "mailer", password MAIL_PASSWORD) and offers no TLS.
import type { AddressInfo } from "node:net"
import { SMTPServer } from "smtp-server"

export const MAIL_PASSWORD = "mail relay password"

export interface Message {
  from: string
  to: string[]
  subject: string
  /** The text body, quoted-printable decoded. */
  text: string
}

export interface Mailbox {
  /** smtp://mailer:…@127.0.0.1:PORT, for REVOCABLE_SMTP_URL. */
  url: string
  /** Every message received so far, in order. */
  received: Message[]
  /** The next message not yet taken by next(): one already received, or the next to arrive. */
  next(): Promise<Message>
  close(): Promise<void>
}

export async function mailbox(): Promise<Mailbox> {
  const received: Message[] = []
  const waiters: Array<(message: Message) => void> = []
  let taken = 0
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === "mailer" && auth.password === MAIL_PASSWORD) return callback(null, { user: "mailer" })
      callback(new Error("Invalid username or password"))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on("data", (chunk: Buffer) => chunks.push(chunk))
      stream.on("end", () => {
        const message = parse(Buffer.concat(chunks).toString("utf8"), session.envelope)
        received.push(message)
        callback()
        const waiter = waiters.shift()
        if (waiter !== undefined) {
          taken++
          waiter(message)
        }
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.server.address() as AddressInfo
  return {
    url: `smtp://mailer:${encodeURIComponent(MAIL_PASSWORD)}@127.0.0.1:${port}`,
    received,
    next() {
      const ready = received[taken]
      if (ready !== undefined) {
        taken++
        return Promise.resolve(ready)
      }
      return new Promise((resolve) => waiters.push(resolve))
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

function parse(raw: string, envelope: { mailFrom: false | { address: string }; rcptTo: Array<{ address: string }> }): Message {
  const split = raw.indexOf("\r\n\r\n")
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, " ")
  let body = raw.slice(split + 4)
  if (/^content-transfer-encoding:\s*quoted-printable/im.test(head)) {
    body = Buffer.from(body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1").toString("utf8")
  }
  return {
    from: envelope.mailFrom === false ? "" : envelope.mailFrom.address,
    to: envelope.rcptTo.map((rcpt) => rcpt.address),
    subject: /^subject:\s*(.*)$/im.exec(head)?.[1] ?? "",
    text: body,
  }
}

/** The token of the console link in a message (`#/reset?token=…` or `#/verify-email?token=…`). */
export function linkToken(message: Message, route: "reset" | "verify-email"): string {
  const match = new RegExp(`/#/${route}\\?token=([A-Za-z0-9_-]{43})`).exec(message.text)
  if (match?.[1] === undefined) throw new Error(`no ${route} link in the message: ${message.text}`)
  return match[1]
}
