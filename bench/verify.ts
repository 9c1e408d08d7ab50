/**
 * Verify throughput of one access token, single thread: revocable (revocation check on, replica holding
 * 10 000 live revocations), with its cache of verified tokens off and on, against fast-jwt (cache off and on),
 * jsonwebtoken, jose and a hand-written node:crypto floor, for HS256 and EdDSA. Only the ratios are meant to be
 * read: they come from interleaved rounds.
 *
 * @example
 * npm run bench -- verify
 */
import assert from "node:assert/strict"
import { createHmac, createSecretKey, generateKeyPairSync, randomBytes, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from "node:crypto"
import { createVerifier } from "fast-jwt"
import { jwtVerify } from "jose"
import jsonwebtoken from "jsonwebtoken"
import { createAuth, type Auth, type KeyInput } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import { compare, formatOps, formatRatio, medianOps, ratio, table, verdict, type Comparison, type Contender, type Ratio, type Section } from "./lib.ts"

export const name = "verify"

const ISSUER = "https://auth.bench.test"
const AUDIENCE = "api"
const REVOCATIONS = 10_000
const ROUNDS = 25
const ROUND_MS = 120
const WARMUP_MS = 1000
const REVOCABLE = "revocable (cache off)"
const REVOCABLE_CACHED = "revocable (cache on, the default)"
const FAST_JWT = "fast-jwt (cache off)"
const FAST_JWT_CACHED = "fast-jwt (cache on)"
const FLOOR = "node:crypto floor"
const FLOOR_AWAITED = "node:crypto floor, awaited"
const FLOOR_TEXT = "node:crypto floor, MAC compared as text"
/** Throughput of the first over the second, at least, for the algorithms listed. */
const TARGETS: readonly { revocable: string; peer: string; wanted: number; algs: readonly Setup["alg"][] }[] = [
  { revocable: REVOCABLE, peer: FAST_JWT, wanted: 1.0, algs: ["HS256", "EdDSA"] },
  { revocable: REVOCABLE, peer: FLOOR, wanted: 0.85, algs: ["HS256", "EdDSA"] },
  // Issue 15: a repeated EdDSA token, revocation checked, against fast-jwt's cache, which checks no revocation.
  { revocable: REVOCABLE_CACHED, peer: FAST_JWT_CACHED, wanted: 1.0, algs: ["EdDSA"] },
  { revocable: REVOCABLE_CACHED, peer: FAST_JWT, wanted: 5.0, algs: ["EdDSA"] },
]

interface Verifier {
  name: string
  verify: (token: string) => unknown
  async?: boolean
}

interface Setup {
  alg: "HS256" | "EdDSA"
  /** EdDSA: the token with its exp an hour past, signed with the same key: what the peers refuse. */
  expired?: string
  /** The same store and key: `cached` with the default cache of verified tokens, `uncached` with none. */
  cached: Auth
  uncached: Auth
  token: string
  verifiers: Verifier[]
}

export async function run(): Promise<Section> {
  let refusals: Comparison | undefined
  const results: [Setup, Comparison][] = []
  for (const make of [hs256, eddsa]) {
    const setup = await make()
    await check(setup)
    const { token } = setup
    const contenders = setup.verifiers.map(({ name, verify, async }): Contender => ({ name, op: () => verify(received(token)), async }))
    results.push([setup, await compare(contenders, { warmupMs: WARMUP_MS, rounds: ROUNDS, roundMs: ROUND_MS })])
    if (setup.expired !== undefined) refusals = await compareRefusals(setup, setup.expired)
    await setup.cached.close()
    await setup.uncached.close()
  }
  return { title: "Verify throughput of an access token", body: `${report(results)}${refusals === undefined ? "" : reportRefusals(refusals)}` }
}

const REFUSED = "revocable (cache on): a revoked token, refused"
const REFUSED_WITH_STACK = "the same, with a stack trace captured (a reference)"

/**
 * A refused token costs what verify's checks cost plus the error: revocable's refusals carry no stack trace
 * (src/errors.ts), which V8 would build by walking the async stack. The peers refuse an expired token.
 */
async function compareRefusals({ cached, verifiers, token }: Setup, expired: string): Promise<Comparison> {
  const revoked = (await cached.issue("bench-refused")).accessToken
  await cached.verify(revoked)
  await cached.revoke(revoked)
  const peer = (name: string) => (verifiers.find((verifier) => verifier.name === name) as Verifier).verify
  const refusal = async (verify: (token: string) => unknown, token: string, withStack = false) => {
    try {
      await verify(received(token))
    } catch (error) {
      // What the refusal would cost with a stack trace: one captured where it is caught, as deep as where it was made.
      if (withStack) Error.captureStackTrace(error as Error)
      return
    }
    throw new Error("a refusal was accepted")
  }
  const contenders: Contender[] = [
    { name: REFUSED, op: () => refusal((jwt) => cached.verify(jwt), revoked), async: true },
    { name: REFUSED_WITH_STACK, op: () => refusal((jwt) => cached.verify(jwt), revoked, true), async: true },
    { name: "revocable (cache on): a live token, accepted", op: () => cached.verify(received(token)), async: true },
    { name: "jose: an expired token, refused", op: () => refusal(peer("jose"), expired), async: true },
    { name: "fast-jwt (cache off): an expired token, refused", op: () => refusal(peer(FAST_JWT), expired), async: true },
  ]
  for (const contender of contenders) await contender.op()
  return compare(contenders, { warmupMs: WARMUP_MS, rounds: ROUNDS, roundMs: ROUND_MS })
}

function reportRefusals(result: Comparison): string {
  const rows = result.names.map((contender) => [contender, formatOps(medianOps(result, contender)), contender === REFUSED ? "-" : describe(ratio(result, REFUSED, contender))])
  return [
    "",
    "",
    "### Refusals (EdDSA)",
    "",
    "A refused token, awaited and caught, in interleaved rounds as above: revocable (cache on) refusing a token revoked after it was verified (`token_revoked`: its signature is found in the cache, the revocation in the replica), the peers refusing the token with its `exp` an hour past, signed with the same key. revocable's errors for a token refused carry no stack trace (src/errors.ts): V8 builds one at construction by walking the async stack. The reference row captures one on each refusal (\`Error.captureStackTrace\` where it is caught): what a refusal would cost with it. The accepted row is the repeated live token of the table above.",
    "",
    table(["contender", "median ops/s", `${REFUSED} / contender`], rows),
  ].join("\n")
}

/**
 * The token as a server holds it: a slice of a header string made for each request. A cache keyed by the token
 * string hashes it at every call, as it would in a server, instead of reusing the hash V8 keeps on one string.
 */
function received(token: string): string {
  return `Bearer ${token}`.slice(7)
}

async function hs256(): Promise<Setup> {
  const raw = randomBytes(32)
  const secret = createSecretKey(raw)
  const { cached, uncached, token } = await revocable({ alg: "HS256", secret })
  const verifyOptions = { algorithms: ["HS256" as const], issuer: ISSUER, audience: AUDIENCE }
  const fast = createVerifier({ key: raw, algorithms: ["HS256"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false })
  const fastCached = createVerifier({ key: raw, algorithms: ["HS256"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: true })
  return {
    alg: "HS256",
    cached,
    uncached,
    token,
    verifiers: [
      { name: REVOCABLE, verify: (jwt) => uncached.verify(jwt), async: true },
      { name: REVOCABLE_CACHED, verify: (jwt) => cached.verify(jwt), async: true },
      { name: FAST_JWT, verify: (jwt) => fast(jwt) },
      { name: FAST_JWT_CACHED, verify: (jwt) => fastCached(jwt) },
      { name: "jsonwebtoken", verify: (jwt) => jsonwebtoken.verify(jwt, secret, verifyOptions) },
      { name: "jose", verify: (jwt) => jwtVerify(jwt, secret, verifyOptions), async: true },
      ...floors((jwt) => floorHs256(jwt, secret)),
      { name: FLOOR_TEXT, verify: (jwt) => floorHs256Text(jwt, secret) },
      { name: `${FLOOR_TEXT}, awaited`, verify: async (jwt) => floorHs256Text(jwt, secret), async: true },
    ],
  }
}

async function eddsa(): Promise<Setup> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  const { cached, uncached, token } = await revocable({ alg: "EdDSA", privateKey })
  const pem = publicKey.export({ format: "pem", type: "spki" }).toString()
  const verifyOptions = { algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE }
  const fast = createVerifier({ key: pem, algorithms: ["EdDSA"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false })
  const fastCached = createVerifier({ key: pem, algorithms: ["EdDSA"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: true })
  const [head, body] = token.split(".") as [string, string]
  const past = { ...JSON.parse(Buffer.from(body, "base64url").toString()), exp: Math.floor(Date.now() / 1000) - 3600 }
  const signingInput = `${head}.${Buffer.from(JSON.stringify(past)).toString("base64url")}`
  return {
    alg: "EdDSA",
    expired: `${signingInput}.${cryptoSign(null, Buffer.from(signingInput), privateKey).toString("base64url")}`,
    cached,
    uncached,
    token,
    verifiers: [
      { name: REVOCABLE, verify: (jwt) => uncached.verify(jwt), async: true },
      { name: REVOCABLE_CACHED, verify: (jwt) => cached.verify(jwt), async: true },
      { name: FAST_JWT, verify: (jwt) => fast(jwt) },
      { name: FAST_JWT_CACHED, verify: (jwt) => fastCached(jwt) },
      // jsonwebtoken 9 has no EdDSA.
      { name: "jose", verify: (jwt) => jwtVerify(jwt, publicKey, verifyOptions), async: true },
      ...floors((jwt) => floorEd25519(jwt, publicKey)),
    ],
  }
}

/**
 * Two auths on one store with a static key, one with the default cache of verified tokens and one without,
 * whose replicas hold REVOCATIONS live revocations, half tokens and half sessions.
 */
async function revocable(key: KeyInput): Promise<{ cached: Auth; uncached: Auth; token: string }> {
  const store = memoryStore()
  const options = { issuer: ISSUER, audience: AUDIENCE, store, keys: [key], purgeInterval: false as const }
  const cached = createAuth(options)
  for (let i = 0; i < REVOCATIONS; i++) {
    const pair = await cached.issue(`user-${i}`)
    if (i % 2 === 0) await cached.revoke(pair.accessToken)
    else await cached.revokeSession(pair.sessionId)
  }
  let live = 0
  for (const _ of await store.snapshot(Date.now())) live++
  assert.equal(live, REVOCATIONS)
  const uncached = createAuth({ ...options, verifyCache: false })
  await uncached.ready()
  for (const auth of [cached, uncached]) assert.equal(auth.replicaStatus().entries, REVOCATIONS)
  const { accessToken } = await cached.issue("bench-user", { claims: { role: "member" } })
  return { cached, uncached, token: accessToken }
}

/** The floor, and the floor behind an async function: what an awaited API costs by itself. */
function floors(verify: (token: string) => unknown): Verifier[] {
  return [
    { name: FLOOR, verify },
    { name: FLOOR_AWAITED, verify: async (jwt) => verify(jwt), async: true },
  ]
}

/** Split at the dots, HMAC with a KeyObject, compare in constant time, parse the payload, check exp. */
function floorHs256(token: string, secret: KeyObject): Record<string, unknown> {
  const first = token.indexOf(".")
  const second = token.lastIndexOf(".")
  const mac = createHmac("sha256", secret).update(token.slice(0, second)).digest()
  const signature = Buffer.from(token.slice(second + 1), "base64url")
  if (signature.length !== mac.length || !timingSafeEqual(mac, signature)) throw new Error("bad signature")
  return payloadOf(token, first, second)
}

/** The floor with revocable's comparison: the digest as base64url text, compared character by character. */
function floorHs256Text(token: string, secret: KeyObject): Record<string, unknown> {
  const first = token.indexOf(".")
  const second = token.lastIndexOf(".")
  const mac = createHmac("sha256", secret).update(token.slice(0, second)).digest("base64url")
  const signature = token.slice(second + 1)
  if (signature.length !== mac.length) throw new Error("bad signature")
  let difference = 0
  for (let i = 0; i < mac.length; i++) difference |= mac.charCodeAt(i) ^ signature.charCodeAt(i)
  if (difference !== 0) throw new Error("bad signature")
  return payloadOf(token, first, second)
}

function floorEd25519(token: string, publicKey: KeyObject): Record<string, unknown> {
  const first = token.indexOf(".")
  const second = token.lastIndexOf(".")
  const signature = Buffer.from(token.slice(second + 1), "base64url")
  if (!cryptoVerify(null, Buffer.from(token.slice(0, second)), publicKey, signature)) throw new Error("bad signature")
  return payloadOf(token, first, second)
}

function payloadOf(token: string, first: number, second: number): Record<string, unknown> {
  const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), "base64url").toString()) as Record<string, unknown>
  if (typeof payload.exp !== "number" || payload.exp <= Date.now() / 1000) throw new Error("expired")
  return payload
}

/**
 * Every verifier accepts the token and refuses it with a flipped signature; each revocable refuses a token
 * revoked after it was verified (for the cached one, a token it holds).
 */
async function check({ cached, uncached, token, verifiers }: Setup): Promise<void> {
  const flipped = `${token.slice(0, -2)}${token.at(-2) === "A" ? "B" : "A"}${token.at(-1)}`
  for (const verifier of verifiers) {
    const result = (await verifier.verify(token)) as { sub?: unknown; payload?: { sub?: unknown } }
    assert.equal((result.payload ?? result).sub, "bench-user", verifier.name)
    await assert.rejects(async () => verifier.verify(flipped), `${verifier.name} accepted a bad signature`)
  }
  const revoked = await cached.issue("bench-revoked")
  for (const auth of [cached, uncached]) await auth.verify(revoked.accessToken)
  await cached.revoke(revoked.accessToken)
  for (const auth of [cached, uncached]) await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
}

function report(results: readonly [Setup, Comparison][]): string {
  const parts: string[] = []
  const verdicts: string[][] = []
  for (const [setup, result] of results) {
    const versus = (revocable: string, contender: string) => (contender === revocable ? "-" : describe(ratio(result, revocable, contender)))
    const rows = result.names.map((contender) => [contender, formatOps(medianOps(result, contender)), versus(REVOCABLE, contender), versus(REVOCABLE_CACHED, contender)])
    const header = ["contender", "median ops/s", `${REVOCABLE} / contender: median (quartiles)`, `${REVOCABLE_CACHED} / contender`]
    parts.push(`### ${setup.alg}`, "", table(header, rows), "")
    for (const { revocable, peer, wanted, algs } of TARGETS) {
      if (!algs.includes(setup.alg)) continue
      const measured = ratio(result, revocable, peer)
      const outcome = verdict(measured, wanted)
      verdicts.push([`${setup.alg}: ${revocable} / ${peer}`, `>= ${formatRatio(wanted)}`, describe(measured), outcome === "met" ? outcome : `**${outcome}**`])
    }
  }
  const met = verdicts.filter((row) => row[3] === "met").length
  const { rounds, roundMs, warmupMs } = results[0]?.[1].options ?? { rounds: 0, roundMs: 0, warmupMs: 0 }
  return [
    "One access token (`typ: at+jwt`; claims `iss sub aud exp iat jti sid gen` and one application claim) verified in a loop on one thread. Each call is given the token as a server holds it, a slice of a header string made for that call (`` `Bearer ${token}`.slice(7) ``), so that a cache keyed by the token string hashes it every time, as in a server.",
    "",
    `- revocable: \`await auth.verify(token)\` on \`memoryStore()\` with a static key (HS256: a secret KeyObject; EdDSA: an Ed25519 key), revocation check on (token, session, subject and key), the replica holding ${formatOps(REVOCATIONS)} live revocations (${formatOps(REVOCATIONS / 2)} tokens, ${formatOps(REVOCATIONS / 2)} sessions). Cache off: \`verifyCache: false\`, the signature checked at every call. Cache on, the default: the repeated token's signature was checked once; claims, expiry and revocation are checked at every call, and the suite checks first that a token revoked after it was cached is refused.`,
    "- fast-jwt: `createVerifier({ cache: false, algorithms, allowedIss, allowedAud })`, given the raw secret or the public PEM (it makes its KeyObject once). With `cache: true` (1000 entries, keyed by a SHA-512 of the token), a repeated token is answered from its cache with no revocation check: it would go on accepting a revoked token.",
    "- jsonwebtoken: `verify(token, secretKeyObject, { algorithms, issuer, audience })`; it has no EdDSA.",
    "- jose: `await jwtVerify(token, keyObject, { algorithms, issuer, audience })`.",
    "- node:crypto floor: split at the dots, HMAC with the KeyObject and `timingSafeEqual` (or `crypto.verify` for Ed25519), `JSON.parse` of the payload, `exp` check. The awaited floor is the same behind an `async` function: what an awaited API costs by itself (a reference, not a target).",
    "- node:crypto floor, MAC compared as text (HS256; a reference, not a target): the floor with revocable's own comparison, the digest taken as base64url text (`digest(\"base64url\")`, cheaper than a Buffer) and compared character by character in constant time. Most of revocable's (cache off) lead over the floor comes from this; the ratio to this row is what its checks (strict base64url and UTF-8, claims, the replica) and the `await` cost, and to its awaited form what the checks alone cost.",
    "",
    `Method: ${warmupMs} ms warm-up per contender, then ${rounds} interleaved rounds of ${roundMs} ms per contender, a full GC before each. ops/s is the median over rounds; a ratio is the median of the per-round ratios (both contenders measured side by side in the same round), with the first and third quartiles. The machine has 2 cores shared with other work: read ratios within one run, never ops/s across runs.`,
    "",
    ...parts,
    "### Targets",
    "",
    table(["target", "wanted", "measured: median (quartiles)", "verdict"], verdicts),
    "",
    "A target is met when even the first quartile of its per-round ratios reaches it, not met when the third quartile stays below it, and uncertain in between (the run was too noisy to tell).",
    "",
    met === verdicts.length ? "All targets are met in this run." : `${met} of ${verdicts.length} targets met in this run.`,
  ].join("\n")
}

function describe({ median, low, high }: Ratio): string {
  return `${formatRatio(median)} (${formatRatio(low)} to ${formatRatio(high)})`
}
