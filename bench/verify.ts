/**
 * Verify throughput of one access token, single thread: revocable (revocation check on, replica holding
 * 10 000 live revocations) against fast-jwt (cache off), jsonwebtoken, jose and a hand-written node:crypto
 * floor, for HS256 and EdDSA. Only the ratios are meant to be read: they come from interleaved rounds.
 *
 * @example
 * npm run bench -- verify
 */
import assert from "node:assert/strict"
import { createHmac, createSecretKey, generateKeyPairSync, randomBytes, timingSafeEqual, verify as cryptoVerify, type KeyObject } from "node:crypto"
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
const REVOCABLE = "revocable"
const FAST_JWT = "fast-jwt (cache off)"
const FLOOR = "node:crypto floor"
const FLOOR_AWAITED = "node:crypto floor, awaited"
const FLOOR_TEXT = "node:crypto floor, MAC compared as text"
/** revocable's throughput over each of these, at least. */
const TARGETS: readonly [string, number][] = [
  [FAST_JWT, 1.0],
  [FLOOR, 0.85],
]

interface Verifier {
  name: string
  verify: (token: string) => unknown
  async?: boolean
}

interface Setup {
  alg: "HS256" | "EdDSA"
  auth: Auth
  token: string
  verifiers: Verifier[]
}

export async function run(): Promise<Section> {
  const results: [Setup, Comparison][] = []
  for (const make of [hs256, eddsa]) {
    const setup = await make()
    await check(setup)
    const { token } = setup
    const contenders = setup.verifiers.map(({ name, verify, async }): Contender => ({ name, op: () => verify(token), async }))
    results.push([setup, await compare(contenders, { warmupMs: WARMUP_MS, rounds: ROUNDS, roundMs: ROUND_MS })])
    await setup.auth.close()
  }
  return { title: "Verify throughput of an access token", body: report(results) }
}

async function hs256(): Promise<Setup> {
  const raw = randomBytes(32)
  const secret = createSecretKey(raw)
  const { auth, token } = await revocable({ alg: "HS256", secret })
  const verifyOptions = { algorithms: ["HS256" as const], issuer: ISSUER, audience: AUDIENCE }
  const fast = createVerifier({ key: raw, algorithms: ["HS256"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false })
  return {
    alg: "HS256",
    auth,
    token,
    verifiers: [
      { name: REVOCABLE, verify: (jwt) => auth.verify(jwt), async: true },
      { name: FAST_JWT, verify: (jwt) => fast(jwt) },
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
  const { auth, token } = await revocable({ alg: "EdDSA", privateKey })
  const pem = publicKey.export({ format: "pem", type: "spki" }).toString()
  const verifyOptions = { algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE }
  const fast = createVerifier({ key: pem, algorithms: ["EdDSA"], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false })
  return {
    alg: "EdDSA",
    auth,
    token,
    verifiers: [
      { name: REVOCABLE, verify: (jwt) => auth.verify(jwt), async: true },
      { name: FAST_JWT, verify: (jwt) => fast(jwt) },
      // jsonwebtoken 9 has no EdDSA.
      { name: "jose", verify: (jwt) => jwtVerify(jwt, publicKey, verifyOptions), async: true },
      ...floors((jwt) => floorEd25519(jwt, publicKey)),
    ],
  }
}

/** An auth with static keys whose replica holds REVOCATIONS live revocations, half tokens and half sessions. */
async function revocable(key: KeyInput): Promise<{ auth: Auth; token: string }> {
  const store = memoryStore()
  const auth = createAuth({ issuer: ISSUER, audience: AUDIENCE, store, keys: [key], purgeInterval: false })
  for (let i = 0; i < REVOCATIONS; i++) {
    const pair = await auth.issue(`user-${i}`)
    if (i % 2 === 0) await auth.revoke(pair.accessToken)
    else await auth.revokeSession(pair.sessionId)
  }
  let live = 0
  for (const _ of await store.snapshot(Date.now())) live++
  assert.equal(live, REVOCATIONS)
  const { accessToken } = await auth.issue("bench-user", { claims: { role: "member" } })
  return { auth, token: accessToken }
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

/** Every verifier accepts the token and refuses it with a flipped signature; revocable refuses a revoked one. */
async function check({ auth, token, verifiers }: Setup): Promise<void> {
  const flipped = `${token.slice(0, -2)}${token.at(-2) === "A" ? "B" : "A"}${token.at(-1)}`
  for (const verifier of verifiers) {
    const result = (await verifier.verify(token)) as { sub?: unknown; payload?: { sub?: unknown } }
    assert.equal((result.payload ?? result).sub, "bench-user", verifier.name)
    await assert.rejects(async () => verifier.verify(flipped), `${verifier.name} accepted a bad signature`)
  }
  const revoked = await auth.issue("bench-revoked")
  await auth.revoke(revoked.accessToken)
  await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
}

function report(results: readonly [Setup, Comparison][]): string {
  const parts: string[] = []
  const verdicts: string[][] = []
  for (const [setup, result] of results) {
    const rows = result.names.map((contender) => {
      const versus = contender === REVOCABLE ? "-" : describe(ratio(result, REVOCABLE, contender))
      return [contender, formatOps(medianOps(result, contender)), versus]
    })
    parts.push(`### ${setup.alg}`, "", table(["contender", "median ops/s", "revocable / contender: median (quartiles)"], rows), "")
    for (const [peer, target] of TARGETS) {
      const measured = ratio(result, REVOCABLE, peer)
      const outcome = verdict(measured, target)
      verdicts.push([`${setup.alg}: revocable / ${peer}`, `>= ${formatRatio(target)}`, describe(measured), outcome === "met" ? outcome : `**${outcome}**`])
    }
  }
  const met = verdicts.filter((row) => row[3] === "met").length
  const { rounds, roundMs, warmupMs } = results[0]?.[1].options ?? { rounds: 0, roundMs: 0, warmupMs: 0 }
  return [
    "One access token (`typ: at+jwt`; claims `iss sub aud exp iat jti sid gen` and one application claim) verified in a loop on one thread.",
    "",
    `- revocable: \`await auth.verify(token)\` on \`memoryStore()\` with a static key (HS256: a secret KeyObject; EdDSA: an Ed25519 key), revocation check on, the replica holding ${formatOps(REVOCATIONS)} live revocations (${formatOps(REVOCATIONS / 2)} tokens, ${formatOps(REVOCATIONS / 2)} sessions).`,
    "- fast-jwt: `createVerifier({ cache: false, algorithms, allowedIss, allowedAud })`, given the raw secret or the public PEM (it makes its KeyObject once).",
    "- jsonwebtoken: `verify(token, secretKeyObject, { algorithms, issuer, audience })`; it has no EdDSA.",
    "- jose: `await jwtVerify(token, keyObject, { algorithms, issuer, audience })`.",
    "- node:crypto floor: split at the dots, HMAC with the KeyObject and `timingSafeEqual` (or `crypto.verify` for Ed25519), `JSON.parse` of the payload, `exp` check. The awaited floor is the same behind an `async` function: what an awaited API costs by itself (a reference, not a target).",
    "- node:crypto floor, MAC compared as text (HS256; a reference, not a target): the floor with revocable's own comparison, the digest taken as base64url text (`digest(\"base64url\")`, cheaper than a Buffer) and compared character by character in constant time. Most of revocable's lead over the floor comes from this; the ratio to this row is what its checks (strict base64url and UTF-8, claims, the replica) and the `await` cost, and to its awaited form what the checks alone cost.",
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
