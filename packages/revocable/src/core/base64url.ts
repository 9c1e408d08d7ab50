// Strict base64url (RFC 4648 §5, no padding): Buffer's decoder skips bad characters, so we check first.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const SEGMENT = /^[A-Za-z0-9_-]*$/

export function isBase64url(text: string): boolean {
  return SEGMENT.test(text)
}

/**
 * The bytes of a strict base64url text, or null. Cheaper than the pattern on long segments: every character
 * Node's decoder skips or stops at shortens the result, "+" and "/" (which it accepts) are looked for, and a
 * character above U+007F (which it may alias to an ASCII one) makes the UTF-8 length differ.
 */
export function decodeBase64url(text: string): Buffer | null {
  // Stryker disable next-line StringLiteral: utf8 is Buffer.byteLength's default
  if (text.length % 4 === 1 || Buffer.byteLength(text, "utf8") !== text.length || text.includes("+") || text.includes("/")) return null
  const bytes = Buffer.from(text, "base64url")
  return bytes.length === Math.floor((text.length * 3) / 4) ? bytes : null
}

export function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3)
}

/** The text encodes exactly `bytes` bytes and its last character carries no stray bits (one encoding per value). */
export function isCanonicalBase64url(text: string, bytes: number): boolean {
  if (text.length !== base64urlLength(bytes) || !SEGMENT.test(text)) return false
  const unusedBits = [0, 4, 2][bytes % 3] as number
  // Stryker disable next-line ConditionalExpression: with no unused bits the mask below is 0
  if (unusedBits === 0) return true
  const last = ALPHABET.indexOf(text[text.length - 1] as string)
  return (last & ((1 << unusedBits) - 1)) === 0
}
