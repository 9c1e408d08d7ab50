// What mail settings and addresses look like: the parsers of REVOCABLE_SMTP_URL and REVOCABLE_SMTP_FROM, and the
// check of the addresses users give. Apart from mailer.ts, so that reading settings never loads nodemailer.

/** The parser of `REVOCABLE_SMTP_URL`: throws a TypeError that says what is wrong (never the password). */
export function parseSmtpUrl(text: string): string {
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    throw new TypeError('must be a URL such as "smtp://user:password@smtp.example.com:587" or "smtps://…:465".')
  }
  if ((parsed.protocol !== "smtp:" && parsed.protocol !== "smtps:") || parsed.hostname === "") {
    throw new TypeError('must be an smtp:// or smtps:// URL with a host, such as "smtps://user:password@smtp.example.com".')
  }
  return text
}

const ADDRESS = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/
const DISPLAY_ADDRESS = /^[^<>"\r\n]{0,100}<([^<>]+)>$/

/** The parser of `REVOCABLE_SMTP_FROM`: "auth@example.com" or "Example Auth <auth@example.com>". */
export function parseFromAddress(text: string): string {
  const address = DISPLAY_ADDRESS.exec(text)?.[1] ?? text
  if (!ADDRESS.test(address) || text.length > 320) throw new TypeError('must be a mail address such as "auth@example.com" or "Example Auth <auth@example.com>".')
  return text
}

/** Whether `text` looks like a mail address a person gives: local@domain.tld, no spaces, at most 254 characters. */
export function isMailAddress(text: string): boolean {
  return text.length <= 254 && ADDRESS.test(text)
}
