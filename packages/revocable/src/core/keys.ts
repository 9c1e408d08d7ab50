// Signing keys: each has one kid bound to exactly one algorithm, made into node:crypto KeyObjects once.
import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type JsonWebKey,
} from "node:crypto"
import { base64urlLength, isCanonicalBase64url } from "./base64url.ts"
import { ALGORITHMS, isKid, type Algorithm } from "./jws.ts"
import type { StoredKey } from "./store.ts"

export { ALGORITHMS, isKid, type Algorithm }

/** A key given to `createAuth({ keys })`. PEM strings, JWK objects and KeyObjects are all accepted. */
export interface KeyInput {
  /** Defaults to the RFC 7638 thumbprint of the public key (for HS256, a value derived from the secret). */
  kid?: string
  alg: Algorithm
  /** HS256 only: the shared secret, at least 32 bytes. */
  secret?: string | Uint8Array | KeyObject
  /** Asymmetric algorithms: the private key. Without it the key only verifies. */
  privateKey?: string | JsonWebKey | KeyObject
  /** Asymmetric algorithms: the public key, when there is no private key. */
  publicKey?: string | JsonWebKey | KeyObject
}

export type TokenType = "access" | "refresh"

export const TYP: Record<TokenType, string> = { access: "at+jwt", refresh: "rt+jwt" }

export interface Key {
  readonly kid: string
  readonly alg: Algorithm
  readonly canSign: boolean
  /** Managed keys: when the key starts signing, by the store's clock (see Keychain); absent: it signs at once. */
  readonly activatesAt?: number
  /** The base64url header segment this key signs with, per token type: the fast path matches on it. */
  readonly headers: Record<TokenType, string>
  /** The public JWK, or null for a shared secret. */
  readonly publicJwk: JsonWebKey | null
  sign(signingInput: string): string
  verify(signingInput: string, signature: string): boolean
}

const HMAC_MIN_BYTES = 32
const RSA_MIN_BITS = 2048

/** Validates a key and makes its KeyObjects; throws a TypeError naming what is wrong. */
export function importKey(input: KeyInput): Key {
  if (!input || typeof input !== "object") throw new TypeError("Each key must be an object.")
  if (!ALGORITHMS.includes(input.alg)) {
    throw new TypeError(`Unsupported key algorithm ${JSON.stringify(input.alg)}; use one of ${ALGORITHMS.join(", ")}.`)
  }
  if (input.alg === "HS256") return hmacKey(input)
  return asymmetricKey({ ...input, alg: input.alg })
}

function hmacKey(input: KeyInput): Key {
  const { secret } = input
  if (secret === undefined) throw new TypeError("An HS256 key needs a secret.")
  // Checked here so that node:crypto's own message, which quotes a wrong value, never shows a secret.
  if (typeof secret !== "string" && !(secret instanceof Uint8Array) && !(secret instanceof KeyObject)) {
    throw new TypeError("An HS256 secret must be a string, a Uint8Array or a secret KeyObject.")
  }
  const keyObject =
    // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: createSecretKey reads a string as UTF-8, as Buffer.from does
    secret instanceof KeyObject ? secret : createSecretKey(typeof secret === "string" ? Buffer.from(secret) : secret)
  if (keyObject.type !== "secret") throw new TypeError("An HS256 secret must be a secret key, not a public or private key.")
  if ((keyObject.symmetricKeySize ?? 0) < HMAC_MIN_BYTES) {
    throw new TypeError(`An HS256 secret must be at least ${HMAC_MIN_BYTES} bytes.`)
  }
  const kid = input.kid ?? createHmac("sha256", keyObject).update("revocable kid").digest("base64url").slice(0, 16)
  checkKid(kid)
  const length = base64urlLength(32)
  return {
    kid,
    alg: "HS256",
    canSign: true,
    headers: headersFor("HS256", kid),
    publicJwk: null,
    sign: (signingInput) => createHmac("sha256", keyObject).update(signingInput).digest("base64url"),
    verify(signingInput, signature) {
      if (signature.length !== length) return false
      // The MAC's one canonical encoding against the text as sent, so that no lenient decoding (other alphabets,
      // stray bits, aliased characters) lets another text pass; a digest as text is also a third cheaper than as
      // a Buffer. Every character is compared whatever the others hold: the time taken says nothing of the MAC.
      const mac = createHmac("sha256", keyObject).update(signingInput).digest("base64url")
      let difference = 0
      // Stryker disable next-line EqualityOperator: one step past the end XORs NaN with NaN, which is 0
      for (let i = 0; i < length; i++) difference |= mac.charCodeAt(i) ^ signature.charCodeAt(i)
      return difference === 0
    },
  }
}

function asymmetricKey(input: KeyInput & { alg: Exclude<Algorithm, "HS256"> }): Key {
  if (input.secret !== undefined) throw new TypeError(`A ${input.alg} key takes privateKey or publicKey, not a secret.`)
  const privateKey = input.privateKey === undefined ? null : toKeyObject(input.privateKey, "private")
  const publicKey =
    privateKey !== null
      ? createPublicKey(privateKey)
      : input.publicKey !== undefined
        ? toKeyObject(input.publicKey, "public")
        : null
  if (publicKey === null) throw new TypeError(`A ${input.alg} key needs a privateKey or a publicKey.`)
  checkKeyFits(input.alg, publicKey)
  const publicJwk = { ...publicKey.export({ format: "jwk" }) }
  const kid = input.kid ?? thumbprint(publicJwk)
  checkKid(kid)
  const { digest, options, signatureBytes } = algorithmParameters(input.alg, publicKey)
  const expected = base64urlLength(signatureBytes)
  // A bare KeyObject, when there are no options, spares node:crypto parsing a key description on every verify.
  // Stryker disable next-line ConditionalExpression: a bare KeyObject only spares parsing the description
  const verifyKey = Object.keys(options).length === 0 ? publicKey : { key: publicKey, ...options }
  return {
    kid,
    alg: input.alg,
    canSign: privateKey !== null,
    headers: headersFor(input.alg, kid),
    publicJwk: { ...publicJwk, kid, alg: input.alg, use: "sig" },
    sign(signingInput) {
      if (privateKey === null) throw new Error(`Key ${kid} has no private key and cannot sign.`)
      // Stryker disable next-line StringLiteral: our own signing input is ASCII, the same bytes in any encoding
      return cryptoSign(digest, Buffer.from(signingInput, "latin1"), { key: privateKey, ...options }).toString("base64url")
    },
    verify(signingInput, signature) {
      // Stryker disable next-line ConditionalExpression: isCanonicalBase64url checks the length too
      if (signature.length !== expected || !isCanonicalBase64url(signature, signatureBytes)) return false
      const bytes = Buffer.from(signature, "base64url")
      return cryptoVerify(digest, Buffer.from(signingInput, "latin1"), verifyKey, bytes)
    },
  }
}

function algorithmParameters(alg: Exclude<Algorithm, "HS256">, publicKey: KeyObject) {
  switch (alg) {
    case "EdDSA":
      return { digest: null, options: {}, signatureBytes: 64 }
    case "ES256":
      return { digest: "sha256", options: { dsaEncoding: "ieee-p1363" as const }, signatureBytes: 64 }
    case "RS256":
      return { digest: "sha256", options: {}, signatureBytes: modulusBytes(publicKey) }
    case "PS256":
      return {
        digest: "sha256",
        options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signatureBytes: modulusBytes(publicKey),
      }
  }
}

function modulusBytes(publicKey: KeyObject): number {
  // Stryker disable next-line OptionalChaining: only called for RSA keys, which have details
  return Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
}

function checkKeyFits(alg: Exclude<Algorithm, "HS256">, publicKey: KeyObject): void {
  const type = publicKey.asymmetricKeyType
  const details = publicKey.asymmetricKeyDetails ?? {}
  const fits =
    alg === "EdDSA"
      ? type === "ed25519"
      : alg === "ES256"
        ? type === "ec" && details.namedCurve === "prime256v1"
        : type === "rsa" && (details.modulusLength ?? 0) >= RSA_MIN_BITS
  if (!fits) {
    const want = { EdDSA: "an Ed25519 key", ES256: "a P-256 key", RS256: "an RSA key of 2048 bits or more", PS256: "an RSA key of 2048 bits or more" }
    throw new TypeError(`A ${alg} key must be ${want[alg]}.`)
  }
}

function toKeyObject(value: string | JsonWebKey | KeyObject, kind: "private" | "public"): KeyObject {
  if (value instanceof KeyObject) {
    if (value.type !== kind) throw new TypeError(`Expected a ${kind} key, got a ${value.type} key.`)
    return value
  }
  if (typeof value === "object" && value !== null) checkSigningJwk(value, kind)
  try {
    if (typeof value === "string") return kind === "private" ? createPrivateKey(value) : createPublicKey(value)
    return kind === "private" ? createPrivateKey({ key: value, format: "jwk" }) : createPublicKey({ key: value, format: "jwk" })
  } catch (cause) {
    throw new TypeError(`The ${kind} key could not be read (PEM, JWK or KeyObject expected).`, { cause })
  }
}

/**
 * A JWK may say what it is for (RFC 7517 §4.2, §4.3): one meant for encryption, or whose operations leave out the
 * one we need (sign for a private key, verify for a public one), is not ours to sign or verify tokens with.
 */
function checkSigningJwk(jwk: JsonWebKey, kind: "private" | "public"): void {
  const { use, key_ops: operations } = jwk
  if (use !== undefined && use !== "sig") {
    throw new TypeError(`The ${kind} key is a JWK with use ${JSON.stringify(use)}: only a signing key (use "sig") signs and verifies tokens.`)
  }
  if (operations === undefined) return
  const needed = kind === "private" ? "sign" : "verify"
  if (!Array.isArray(operations) || !operations.every((operation) => typeof operation === "string")) {
    throw new TypeError(`The ${kind} key is a JWK whose key_ops is not an array of strings.`)
  }
  if (!operations.includes(needed)) {
    throw new TypeError(`The ${kind} key is a JWK whose key_ops does not include "${needed}": it is not a signing key.`)
  }
}

function checkKid(kid: string): void {
  if (typeof kid !== "string" || !isKid(kid)) {
    throw new TypeError("A kid must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'.")
  }
}

/** RFC 7638 JWK thumbprint. */
function thumbprint(jwk: JsonWebKey): string {
  const members: Record<string, readonly string[]> = { OKP: ["crv", "kty", "x"], EC: ["crv", "kty", "x", "y"], RSA: ["e", "kty", "n"] }
  // Stryker disable next-line StringLiteral,ArrayDeclaration: every public JWK we export has one of the three ktys
  const required = members[jwk.kty ?? ""] ?? []
  const canonical = JSON.stringify(Object.fromEntries(required.map((name) => [name, jwk[name]])))
  return createHash("sha256").update(canonical).digest("base64url")
}

function headersFor(alg: Algorithm, kid: string): Record<TokenType, string> {
  const encode = (typ: string) => Buffer.from(JSON.stringify({ alg, kid, typ })).toString("base64url")
  return { access: encode(TYP.access), refresh: encode(TYP.refresh) }
}

/** A new key of the algorithm, for keys that revocable manages in the store; it signs from `activatesAt`. */
export function generateStoredKey(alg: Algorithm, now: number, activatesAt = now): StoredKey {
  const privateJwk =
    alg === "HS256"
      ? { kty: "oct", k: randomBytes(32).toString("base64url") }
      : generatePrivateKey(alg).export({ format: "jwk" })
  const key = importStoredKey({ kid: "pending", alg, privateJwk: JSON.stringify(privateJwk), createdAt: now, activatesAt, retiredAt: null })
  const kid = key.publicJwk ? thumbprint(key.publicJwk) : randomBytes(12).toString("base64url")
  return { kid, alg, privateJwk: JSON.stringify(privateJwk), createdAt: now, activatesAt, retiredAt: null }
}

function generatePrivateKey(alg: Exclude<Algorithm, "HS256">): KeyObject {
  switch (alg) {
    case "EdDSA":
      return generateKeyPairSync("ed25519").privateKey
    case "ES256":
      return generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey
    case "RS256":
    case "PS256":
      return generateKeyPairSync("rsa", { modulusLength: RSA_MIN_BITS }).privateKey
  }
}

export function importStoredKey(stored: StoredKey): Key {
  const jwk = JSON.parse(stored.privateJwk) as JsonWebKey
  if (stored.alg === "HS256") {
    return importKey({ kid: stored.kid, alg: "HS256", secret: Buffer.from(String(jwk.k), "base64url") })
  }
  return importKey({ kid: stored.kid, alg: stored.alg as Algorithm, privateKey: jwk })
}

interface HeaderEntry {
  segment: string
  key: Key
  type: TokenType
}

/** The keys in force: looked up by kid, and by the exact header segment our own tokens carry. */
export class KeyRing {
  readonly #byKid = new Map<string, Key>()
  // Stryker disable next-line ArrayDeclaration: an entry without a segment matches no token
  readonly #headers: HeaderEntry[] = []
  /** Signing candidates, preferred first. */
  readonly #signers: Key[]

  constructor(keys: readonly Key[]) {
    for (const key of keys) {
      if (this.#byKid.has(key.kid)) throw new TypeError(`Two keys share the kid ${JSON.stringify(key.kid)}.`)
      this.#byKid.set(key.kid, key)
      // Stryker disable next-line ObjectLiteral: matchHeader is a fast path: parseHeader finds the same key and type
      this.#headers.push({ segment: key.headers.access, key, type: "access" }, { segment: key.headers.refresh, key, type: "refresh" })
    }
    this.#signers = keys.filter((key) => key.canSign)
  }

  get(kid: string): Key | undefined {
    return this.#byKid.get(kid)
  }

  /** The key and type of a token whose header segment (ending at `end`) is one we sign with. */
  // Stryker disable next-line BlockStatement: a fast path: parseHeader finds the same key and type
  matchHeader(token: string, end: number): HeaderEntry | undefined {
    // Stryker disable next-line MethodExpression: a fast path: parseHeader finds the same key and type
    const segment = token.slice(0, end)
    // A whole-string comparison is about three times quicker than startsWith here.
    // Stryker disable next-line ConditionalExpression: a fast path: parseHeader finds the same key and type
    for (const entry of this.#headers) if (entry.segment === segment) return entry
    return undefined
  }

  /**
   * The preferred key that can sign, is not retired and is active at `now` (the store's clock). With none active
   * (a key made to sign at once, read by a clock a moment behind the store's), the one that activates first.
   */
  signer(isRetired: (kid: string) => boolean, now: number): Key | undefined {
    let first: Key | undefined
    for (const key of this.#signers) {
      if (isRetired(key.kid)) continue
      const activatesAt = key.activatesAt ?? -Infinity
      if (activatesAt <= now) return key
      if (first === undefined || activatesAt < (first.activatesAt as number)) first = key
    }
    return first
  }

  all(): Key[] {
    return [...this.#byKid.values()]
  }
}
