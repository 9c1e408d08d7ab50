// JWS compact serialization: signing, and the strict decode-and-verify every token goes through.
import { isUtf8 } from "node:buffer"
import { AuthError } from "../errors.ts"
import { decodeBase64url } from "./base64url.ts"
import { badSignature, checkForm, invalid, malformed, parseJsonObject, readHeader, signingInputEnd, type SegmentPart } from "./jws.ts"
import type { Key, KeyRing, TokenType } from "./keys.ts"

export { MAX_TOKEN_LENGTH } from "./jws.ts"

export interface VerifiedToken {
  key: Key
  type: TokenType
  payload: Record<string, unknown>
}

export function signToken(key: Key, type: TokenType, claims: object): string {
  const signingInput = `${key.headers[type]}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`
  return `${signingInput}.${key.sign(signingInput)}`
}

/**
 * Checks form, header and signature, then decodes the payload. Claims are not looked at here.
 * The key is chosen by kid alone and must be bound to the header's alg; jku, x5u, x5c and jwk are ignored.
 */
export function verifySignature(token: unknown, ring: KeyRing): VerifiedToken {
  checkForm(token)
  const first = token.indexOf(".")
  const second = signingInputEnd(token, first)
  const { key, type } = ring.matchHeader(token, first) ?? parseHeader(token.slice(0, first), ring)
  const signingInput = token.slice(0, second)
  if (!key.verify(signingInput, token.slice(second + 1))) throw badSignature(signingInput, token.slice(second + 1))
  return { key, type, payload: parseJsonObject(decodeSegment(token.slice(first + 1, second), "payload"), "payload") }
}

/** The payload's JSON text, of a token verifySignature accepted. */
export function payloadJson(token: string): string {
  return (decodeBase64url(token.slice(token.indexOf(".") + 1, token.lastIndexOf("."))) as Buffer).toString()
}

function parseHeader(segment: string, ring: KeyRing): { key: Key; type: TokenType } {
  const { alg, kid, type } = readHeader(segment, decodeSegment)
  const key = ring.get(kid)
  if (!key) throw new UnknownKeyError()
  if (key.alg !== alg) throw invalid("The token algorithm does not match its key.")
  return { key, type }
}

/** verifySignature refused a well-formed kid only because the ring has no key with it: worth a reload. */
class UnknownKeyError extends AuthError {
  constructor() {
    super("token_invalid", "The token was signed with an unknown key.")
  }
}

export function isUnknownKey(error: unknown): boolean {
  return error instanceof UnknownKeyError
}

function decodeSegment(segment: string, part: SegmentPart): string {
  const bytes = decodeBase64url(segment)
  if (bytes === null) throw malformed(`The token ${part} is not base64url.`)
  const text = bytes.toString()
  // Invalid UTF-8 decodes to U+FFFD: only a text holding one needs the full check (the common case skips it).
  // Stryker disable next-line StringLiteral,ConditionalExpression: the U+FFFD test only spares the full check
  if (text.includes("\uFFFD") && !isUtf8(bytes)) throw malformed(`The token ${part} is not valid UTF-8.`)
  return text
}
