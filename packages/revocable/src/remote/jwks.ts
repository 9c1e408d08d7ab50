// The server's public keys, fetched from its jwks_uri and imported into WebCrypto once (again only if the JWKS
// changes a kid's key). A retired kid is gone for good: never imported again, whatever a JWKS (a cached or stale
// one) still lists.
import { isCanonicalBase64url } from "../core/base64url.ts"

export interface RemoteKey {
  kid: string
  alg: string
  cryptoKey: CryptoKey
  verifyParams: AlgorithmIdentifier | RsaPssParams | EcdsaParams
  signatureBytes: number
  signatureLength: number
  /** The JWK members it was imported from, to see whether a refetched JWKS changed it. */
  source: string
}

type Fetch = typeof fetch

export interface KeySetOptions {
  jwksUri: string
  fetch: Fetch
  /** At most one refetch for an unknown kid per this many milliseconds. */
  refetchIntervalMs: number
  now: () => number
  /** A kid held before is gone: retired, left out of a refetched JWKS, or listed there with another key. */
  onKeyGone: (kid: string) => void
}

export class KeySet {
  readonly #options: KeySetOptions
  #keys = new Map<string, RemoteKey>()
  readonly #retired = new Set<string>()
  #loading: Promise<void> | undefined
  #lastLoadAt = -Infinity

  constructor(options: KeySetOptions) {
    this.#options = options
  }

  get(kid: string): RemoteKey | undefined {
    return this.#keys.get(kid)
  }

  get size(): number {
    return this.#keys.size
  }

  /** From now on, tokens signed by this kid are refused. */
  retire(kid: string): void {
    this.#retired.add(kid)
    this.#keys.delete(kid)
    this.#options.onKeyGone(kid)
  }

  isRetired(kid: string): boolean {
    return this.#retired.has(kid)
  }

  /** Fetches the JWKS now (at start). */
  load(): Promise<void> {
    this.#loading ??= this.#fetch().finally(() => {
      this.#loading = undefined
    })
    return this.#loading
  }

  /**
   * A refetch for a kid we do not hold, shared by every verify that asks while it runs, and at most one per
   * refetch interval: a flood of tokens with made-up kids costs the server one request per interval.
   */
  reloadForUnknownKid(kid: string): Promise<void> | undefined {
    if (this.#retired.has(kid)) return undefined
    if (this.#loading) return this.#loading
    if (this.#options.now() - this.#lastLoadAt < this.#options.refetchIntervalMs) return undefined
    return this.load()
  }

  async #fetch(): Promise<void> {
    this.#lastLoadAt = this.#options.now()
    const response = await this.#options.fetch(this.#options.jwksUri, { headers: { accept: "application/json" } })
    if (!response.ok) throw new Error(`The JWKS at ${this.#options.jwksUri} answered ${response.status}.`)
    const body = (await response.json()) as { keys?: unknown }
    if (!Array.isArray(body.keys)) throw new Error(`The JWKS at ${this.#options.jwksUri} has no keys array.`)
    const keys = new Map<string, RemoteKey>()
    for (const jwk of body.keys as JsonWebKey[]) {
      const kid = (jwk as { kid?: unknown }).kid
      if (typeof kid !== "string" || this.#retired.has(kid)) continue
      const held = this.#keys.get(kid)
      // A key we cannot use (an unknown algorithm, a key meant for encryption) is skipped, not fatal: others may verify.
      const key = held !== undefined && held.source === jwkSource(jwk) ? held : await importJwk(kid, jwk).catch(() => undefined)
      if (key) keys.set(kid, key)
    }
    // A key retired while the fetch ran stays out.
    for (const kid of this.#retired) keys.delete(kid)
    const before = this.#keys
    this.#keys = keys
    for (const [kid, key] of before) if (keys.get(kid) !== key) this.#options.onKeyGone(kid)
  }
}

/** A public JWK as a WebCrypto key bound to its one algorithm, or undefined for one we do not verify with. */
export async function importJwk(kid: string, jwk: JsonWebKey): Promise<RemoteKey | undefined> {
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes("verify")) return undefined
  const { kty, crv, alg } = jwk
  const publicJwk: JsonWebKey = { kty, ...(crv === undefined ? {} : { crv }), x: jwk.x, y: jwk.y, n: jwk.n, e: jwk.e }
  for (const name of ["x", "y", "n", "e"] as const) if (publicJwk[name] === undefined) delete publicJwk[name]
  const make = async (algorithm: string, importParams: AlgorithmIdentifier | RsaHashedImportParams | EcKeyImportParams, verifyParams: RemoteKey["verifyParams"], signatureBytes: number) => ({
    kid,
    alg: algorithm,
    cryptoKey: await crypto.subtle.importKey("jwk", publicJwk, importParams, false, ["verify"]),
    verifyParams,
    signatureBytes,
    signatureLength: Math.ceil((signatureBytes * 4) / 3),
    source: jwkSource(jwk),
  })
  if (kty === "OKP" && crv === "Ed25519" && (alg === undefined || alg === "EdDSA" || alg === "Ed25519")) {
    return make("EdDSA", { name: "Ed25519" }, { name: "Ed25519" }, 64)
  }
  if (kty === "EC" && crv === "P-256" && (alg === undefined || alg === "ES256")) {
    return make("ES256", { name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }, 64)
  }
  if (kty === "RSA" && (alg === "RS256" || alg === "PS256") && typeof jwk.n === "string") {
    const bytes = modulusBytes(jwk.n)
    if (bytes < 256) return undefined
    return alg === "RS256"
      ? make("RS256", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }, bytes)
      : make("PS256", { name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }, bytes)
  }
  return undefined
}

/** The members of a JWK that importJwk reads. */
function jwkSource(jwk: JsonWebKey): string {
  return JSON.stringify([jwk.kty, jwk.crv, jwk.alg, jwk.use, jwk.key_ops, jwk.x, jwk.y, jwk.n, jwk.e])
}

/** The RSA modulus' length in bytes, from its base64url (leading zero bytes are not part of it, RFC 7518 §6.3.1.1). */
function modulusBytes(n: string): number {
  const length = Math.floor((n.length * 3) / 4)
  return isCanonicalBase64url(n, length) ? length : 0
}
