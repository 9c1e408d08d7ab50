// JWS compact serialization: signing, and the strict decode-and-verify every token goes through.
import { isUtf8 } from "node:buffer"
import { AuthError } from "../errors.ts"
import { decodeBase64url, isBase64url } from "./base64url.ts"
import { ALGORITHMS, isKid, type Algorithm, type Key, type KeyRing, type TokenType } from "./keys.ts"

/** Larger tokens are refused before anything is decoded. */
export const MAX_TOKEN_LENGTH = 8192
const MAX_HEADER_LENGTH = 1024
// Stryker disable next-line Regex: the header is strict base64url before any signature is checked
const SIGNING_INPUT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

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
  if (token === undefined || token === null) throw new AuthError("token_missing")
  if (typeof token !== "string") throw malformed("The token must be a string.")
  if (token.length > MAX_TOKEN_LENGTH) throw malformed(`The token is longer than ${MAX_TOKEN_LENGTH} characters.`)
  const first = token.indexOf(".")
  // Stryker disable next-line ConditionalExpression,UnaryOperator: with no first dot there is no second: indexOf gives -1 too
  const second = first === -1 ? -1 : token.indexOf(".", first + 1)
  // Stryker disable next-line ConditionalExpression,UnaryOperator: second is -1 only if there is at most one dot, which the other tests catch
  if (first <= 0 || second === -1 || second === first + 1 || second === token.length - 1 || token.includes(".", second + 1)) {
    throw malformed("The token must have three non-empty segments.")
  }
  const { key, type } = ring.matchHeader(token, first) ?? parseHeader(token.slice(0, first), ring)
  const signingInput = token.slice(0, second)
  if (!key.verify(signingInput, token.slice(second + 1))) {
    if (!SIGNING_INPUT.test(signingInput) || !isBase64url(token.slice(second + 1))) {
      throw malformed("The token contains characters outside base64url.")
    }
    throw invalid("The signature is invalid.")
  }
  return { key, type, payload: parseJsonObject(token.slice(first + 1, second), "payload") }
}

/** The payload's JSON text, of a token verifySignature accepted. */
export function payloadJson(token: string): string {
  return (decodeBase64url(token.slice(token.indexOf(".") + 1, token.lastIndexOf("."))) as Buffer).toString()
}

function parseHeader(segment: string, ring: KeyRing): { key: Key; type: TokenType } {
  if (segment.length > MAX_HEADER_LENGTH) throw malformed("The token header is too large.")
  const header = parseJsonObject(segment, "header")
  for (const name of ["crit", "b64"]) {
    if (Object.hasOwn(header, name)) throw invalid(`The header parameter ${name} is not supported.`)
  }
  const { alg, kid, typ } = header
  // Stryker disable next-line ConditionalExpression: ALGORITHMS includes no non-string
  if (typeof alg !== "string" || !ALGORITHMS.includes(alg as Algorithm)) throw invalid("The token algorithm is not accepted.")
  if (typeof kid !== "string") throw invalid("The token header has no kid.")
  if (!isKid(kid)) throw invalid("The token kid is not one a key can have.")
  // Checked before the key, so that only an otherwise acceptable header can make managed keys reload.
  const type = typeof typ === "string" ? tokenType(typ) : undefined
  if (!type) throw invalid("The token header has no accepted typ.")
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

function tokenType(typ: string): TokenType | undefined {
  const media = typ.toLowerCase().replace(/^application\//, "")
  return media === "at+jwt" ? "access" : media === "rt+jwt" ? "refresh" : undefined
}

function parseJsonObject(segment: string, part: "header" | "payload"): Record<string, unknown> {
  const bytes = decodeBase64url(segment)
  if (bytes === null) throw malformed(`The token ${part} is not base64url.`)
  const text = bytes.toString()
  // Invalid UTF-8 decodes to U+FFFD: only a text holding one needs the full check (the common case skips it).
  // Stryker disable next-line StringLiteral,ConditionalExpression: the U+FFFD test only spares the full check
  if (text.includes("\uFFFD") && !isUtf8(bytes)) throw malformed(`The token ${part} is not valid UTF-8.`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed(`The token ${part} is not JSON.`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`The token ${part} is not a JSON object.`)
  }
  // RFC 7515 §4 lets a parser either reject duplicate names or keep the last: headers are rejected; payloads
  // (checked only after the signature, so written by a holder of the key) keep the last, as JSON.parse does.
  if (part === "header" && hasDuplicateMembers(text)) throw malformed("The token header has duplicate members.")
  return value as Record<string, unknown>
}

/** Whether a valid JSON object text repeats a member name at its top level. */
function hasDuplicateMembers(json: string): boolean {
  const seen = new Set<string>()
  let depth = 0
  // Stryker disable next-line EqualityOperator: one step past the end reads undefined, which matches nothing
  for (let i = 0; i < json.length; i++) {
    const char = json[i]
    if (char === '"') {
      const start = i
      for (i++; json[i] !== '"'; i++) if (json[i] === "\\") i++
      let next = i + 1
      while (json[next] === " " || json[next] === "\t" || json[next] === "\n" || json[next] === "\r") next++
      if (depth === 1 && json[next] === ":") {
        const name = JSON.parse(json.slice(start, i + 1)) as string
        if (seen.has(name)) return true
        seen.add(name)
      }
    } else if (char === "{" || char === "[") {
      depth++
    } else if (char === "}" || char === "]") {
      depth--
    }
  }
  return false
}

function malformed(message: string): AuthError {
  return new AuthError("token_malformed", message)
}

function invalid(message: string): AuthError {
  return new AuthError("token_invalid", message)
}
