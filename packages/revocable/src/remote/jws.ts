// The strict decode of a token that core/tokens.ts does, with WebCrypto instead of node:crypto: the same checks
// in the same order, so that a remote verify refuses a token with the same code as createAuth's.
import { AuthError } from "../errors.ts"
import { isBase64url, isCanonicalBase64url } from "../core/base64url.ts"
import type { RemoteKey } from "./jwks.ts"

export type TokenType = "access" | "refresh"

const MAX_TOKEN_LENGTH = 8192
const MAX_HEADER_LENGTH = 1024
const ALGORITHMS = new Set(["EdDSA", "ES256", "RS256", "PS256", "HS256"])
const KID = /^[A-Za-z0-9._-]{1,128}$/
const SIGNING_INPUT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder("utf-8", { fatal: true })
const ascii = new TextEncoder()

/** A token split and its header read: what is needed to pick its key. */
export interface DecodedToken {
  kid: string
  alg: string
  type: TokenType
  signingInput: string
  signature: string
  payloadSegment: string
}

/** Form and header checks; the key is looked up by the caller (an unknown kid may be worth a JWKS refetch). */
export function decodeToken(token: unknown): DecodedToken {
  if (token === undefined || token === null) throw new AuthError("token_missing")
  if (typeof token !== "string") throw malformed("The token must be a string.")
  if (token.length > MAX_TOKEN_LENGTH) throw malformed(`The token is longer than ${MAX_TOKEN_LENGTH} characters.`)
  const first = token.indexOf(".")
  const second = first === -1 ? -1 : token.indexOf(".", first + 1)
  if (first <= 0 || second === -1 || second === first + 1 || second === token.length - 1 || token.includes(".", second + 1)) {
    throw malformed("The token must have three non-empty segments.")
  }
  const headerSegment = token.slice(0, first)
  if (headerSegment.length > MAX_HEADER_LENGTH) throw malformed("The token header is too large.")
  const headerText = decodeSegment(headerSegment, "header")
  const header = parseJsonObject(headerText, "header")
  if (hasDuplicateMembers(headerText)) throw malformed("The token header has duplicate members.")
  for (const name of ["crit", "b64"]) {
    if (Object.hasOwn(header, name)) throw invalid(`The header parameter ${name} is not supported.`)
  }
  const { alg, kid, typ } = header
  if (typeof alg !== "string" || !ALGORITHMS.has(alg)) throw invalid("The token algorithm is not accepted.")
  if (typeof kid !== "string") throw invalid("The token header has no kid.")
  if (!KID.test(kid)) throw invalid("The token kid is not one a key can have.")
  const type = typeof typ === "string" ? tokenType(typ) : undefined
  if (!type) throw invalid("The token header has no accepted typ.")
  return { kid, alg, type, signingInput: token.slice(0, second), signature: token.slice(second + 1), payloadSegment: token.slice(first + 1, second) }
}

/** Checks the signature with the token's key, then decodes the payload. */
export async function verifyDecoded(decoded: DecodedToken, key: RemoteKey): Promise<Record<string, unknown>> {
  if (key.alg !== decoded.alg) throw invalid("The token algorithm does not match its key.")
  const { signingInput, signature } = decoded
  if (!SIGNING_INPUT.test(signingInput) || !isBase64url(signature)) throw malformed("The token contains characters outside base64url.")
  const valid =
    signature.length === key.signatureLength &&
    isCanonicalBase64url(signature, key.signatureBytes) &&
    (await crypto.subtle.verify(key.verifyParams, key.cryptoKey, base64urlBytes(signature), ascii.encode(signingInput)))
  if (!valid) throw invalid("The signature is invalid.")
  return parseJsonObject(decodeSegment(decoded.payloadSegment, "payload"), "payload")
}

function tokenType(typ: string): TokenType | undefined {
  const media = typ.toLowerCase().replace(/^application\//, "")
  return media === "at+jwt" ? "access" : media === "rt+jwt" ? "refresh" : undefined
}

function decodeSegment(segment: string, part: "header" | "payload"): string {
  const bytes = segment.length % 4 === 1 || !isBase64url(segment) ? null : base64urlBytes(segment)
  if (bytes === null) throw malformed(`The token ${part} is not base64url.`)
  try {
    return utf8.decode(bytes)
  } catch {
    throw malformed(`The token ${part} is not valid UTF-8.`)
  }
}

/** The bytes of a base64url text already checked against the alphabet. */
export function base64urlBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

function parseJsonObject(text: string, part: "header" | "payload"): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed(`The token ${part} is not JSON.`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed(`The token ${part} is not a JSON object.`)
  return value as Record<string, unknown>
}

/** Whether a valid JSON object text repeats a member name at its top level (RFC 7515 §4: headers are refused). */
function hasDuplicateMembers(json: string): boolean {
  const seen = new Set<string>()
  let depth = 0
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
