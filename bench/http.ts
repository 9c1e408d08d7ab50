/**
 * HTTP throughput of a protected route: revocable's Fastify and Express adapters on the Redis store against
 * @fastify/jwt (without revocation, and with a Redis EXISTS in `trusted`) and express-jwt (with a Redis EXISTS
 * in `isRevoked`), with each framework's bare route as a ceiling and, for Express, a minimal hand-written HS256
 * check as the floor of what verifying at all costs. Same HS256 secret, same token, same Redis.
 * Each server runs in its own process (bench/fixtures/http-*.ts); autocannon runs here, so the load generator
 * shares no event loop with a server.
 *
 * @example
 * npm run bench -- http
 */
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import { loadavg } from "node:os"
import { createClient } from "redis"
import { createAuth, type Auth } from "revocable"
import { redisStore, type RedisWarning } from "revocable/stores/redis"
import { forkServer, type ForkedServer, type ServerConfig } from "./fixtures/http-shared.ts"
import { formatOps, formatRatio, median, medianOps, ratio, table, verdict, type Comparison, type Ratio, type Section } from "./lib.ts"

export const name = "http"

const REDIS_URL = "redis://127.0.0.1:6379"
const ISSUER = "https://auth.bench.test"
const AUDIENCE = "api"
const SUBJECT = "bench-user"
const CONNECTIONS = 50
const ROUNDS = 3
const ROUND_SECONDS = 5
const WARMUP_SECONDS = 2
/** Live revocations in the store (and revoked-jti keys for the peers), so that neither looks up an empty set. */
const REVOCATIONS = 1_000

interface Spec {
  name: string
  fixture: string
  args?: string[]
  /** Checks the token; false for the ceilings, which serve the route without authentication. */
  authenticates: boolean
  /** Refuses a revoked token. */
  revokes: boolean
}

const REVOCABLE_FASTIFY = "revocable Fastify adapter, Redis store"
const FASTIFY_JWT = "@fastify/jwt, no revocation"
const FASTIFY_JWT_REDIS = "@fastify/jwt + Redis EXISTS"
const REVOCABLE_EXPRESS = "revocable Express adapter, Redis store"
const EXPRESS_JWT_REDIS = "express-jwt + Redis EXISTS"
const BARE_FASTIFY = "Fastify, no authentication (ceiling)"
const BARE_EXPRESS = "Express, no authentication (ceiling)"
const FLOOR_EXPRESS = "Express, minimal HS256 check, no revocation (floor)"

const SPECS: readonly Spec[] = [
  { name: REVOCABLE_FASTIFY, fixture: "http-revocable-fastify.ts", authenticates: true, revokes: true },
  { name: FASTIFY_JWT, fixture: "http-fastify-jwt.ts", authenticates: true, revokes: false },
  { name: FASTIFY_JWT_REDIS, fixture: "http-fastify-jwt.ts", args: ["redis"], authenticates: true, revokes: true },
  { name: BARE_FASTIFY, fixture: "http-bare.ts", args: ["fastify"], authenticates: false, revokes: false },
  { name: REVOCABLE_EXPRESS, fixture: "http-revocable-express.ts", authenticates: true, revokes: true },
  { name: EXPRESS_JWT_REDIS, fixture: "http-express-jwt.ts", authenticates: true, revokes: true },
  { name: FLOOR_EXPRESS, fixture: "http-express-floor.ts", authenticates: true, revokes: false },
  { name: BARE_EXPRESS, fixture: "http-bare.ts", args: ["express"], authenticates: false, revokes: false },
]

/** [revocable contender, peer, wanted req/s ratio]. */
const TARGETS: readonly [string, string, number][] = [
  [REVOCABLE_FASTIFY, FASTIFY_JWT, 1.0],
  [REVOCABLE_FASTIFY, FASTIFY_JWT_REDIS, 1.2],
  [REVOCABLE_EXPRESS, EXPRESS_JWT_REDIS, 2.0],
]
/** Ratios shown besides the targets: what revocable keeps of its framework, and the most Express allows. */
const REFERENCES: readonly [string, string][] = [
  [REVOCABLE_FASTIFY, BARE_FASTIFY],
  [REVOCABLE_EXPRESS, BARE_EXPRESS],
  [REVOCABLE_EXPRESS, FLOOR_EXPRESS],
  [FLOOR_EXPRESS, EXPRESS_JWT_REDIS],
  [BARE_EXPRESS, EXPRESS_JWT_REDIS],
]

/** What the suite reads of autocannon 9 (no type definitions ship with it). */
interface LoadResult {
  duration: number
  requests: { total: number }
  latency: { p99: number }
  errors: number
  timeouts: number
  non2xx: number
}
type Autocannon = (options: { url: string; connections: number; duration: number; headers: Record<string, string> }) => Promise<LoadResult>
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon

type Redis = ReturnType<typeof createClient>

interface Server extends ForkedServer {
  spec: Spec
}

/** One contender's numbers in one slot. */
interface Sample {
  rps: number
  p99: number
  /** Server process CPU per request, µs. */
  serverCpu: number
  /** Redis server CPU per request, µs (Redis is shared: other clients' work lands here too). */
  redisCpu: number
  /** Server CPU time over wall time: near 1, the server was the bottleneck. */
  cores: number
}

interface Tokens {
  valid: string
  revoked: string
}

export async function run(): Promise<Section> {
  const tag = `bench-http-${randomBytes(6).toString("hex")}`
  const config: ServerConfig = {
    secret: randomBytes(32).toString("base64url"),
    issuer: ISSUER,
    audience: AUDIENCE,
    redisUrl: REDIS_URL,
    storePrefix: tag,
    revokedPrefix: `${tag}:revoked:`,
  }
  const redis: Redis = createClient({ url: REDIS_URL })
  await redis.connect()
  const warnings: RedisWarning[] = []
  const store = redisStore({ url: REDIS_URL }, { prefix: config.storePrefix, onWarning: (warning) => warnings.push(warning) })
  // Sessions of an hour: whatever a crashed run leaves in the shared Redis is gone within the hour.
  const auth = createAuth({
    issuer: ISSUER,
    audience: AUDIENCE,
    store,
    keys: [{ alg: "HS256", secret: Buffer.from(config.secret, "base64url") }],
    refreshTtl: "1h",
    purgeInterval: false,
  })
  const servers: Server[] = []
  try {
    const tokens = await seed(auth, redis, config)
    for (const spec of SPECS) servers.push(await start(spec, config))
    for (const server of servers) await check(server, tokens)
    for (const server of servers) await load(server, tokens.valid, WARMUP_SECONDS)
    const samples = new Map<string, Sample[]>(SPECS.map((spec) => [spec.name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with another contender, so that none always runs first or last.
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(round + i) % servers.length] as Server
        samples.get(server.spec.name)?.push(await measure(server, tokens.valid, redis))
      }
    }
    return { title: "HTTP throughput of a protected route", body: report(samples, warnings) }
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
    await auth.close()
    await clean(redis, config)
    await redis.close()
  }
}

/**
 * The token every request carries, a revoked one, and REVOCATIONS live revocations (half tokens, half
 * sessions) in the store, mirrored as revoked-jti keys for the peers. Done before the servers start, so each
 * loads them all in its snapshot.
 */
async function seed(auth: Auth, redis: Redis, config: ServerConfig): Promise<Tokens> {
  const ttl = 3_600_000
  const revoke = async (i: number) => {
    const pair = await auth.issue(`${SUBJECT}-${i}`)
    if (i % 2 === 0) await auth.revoke(pair.accessToken)
    else await auth.revokeSession(pair.sessionId)
    await redis.set(`${config.revokedPrefix}${jtiOf(pair.accessToken)}`, "1", { PX: ttl })
    return pair.accessToken
  }
  for (let i = 0; i < REVOCATIONS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => revoke(i + j)))
  const revoked = await revoke(REVOCATIONS)
  const { accessToken } = await auth.issue(SUBJECT, { claims: { role: "member" } })
  return { valid: accessToken, revoked }
}

function jtiOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as { jti: string }
  return payload.jti
}

async function clean(redis: Redis, config: ServerConfig): Promise<void> {
  for (const pattern of [`{${config.storePrefix}}*`, `${config.revokedPrefix}*`]) {
    for await (const keys of redis.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
      if (keys.length > 0) await redis.unlink(keys)
    }
  }
}

/** Forks a server, sends it the configuration, waits until it listens. */
async function start(spec: Spec, config: ServerConfig): Promise<Server> {
  return { spec, ...(await forkServer(spec.fixture, spec.args ?? [], config)) }
}

/** Every server serves the token, refuses a bad signature and no token, and (those that check) a revoked token. */
async function check(server: Server, tokens: Tokens): Promise<void> {
  const get = async (authorization?: string) => {
    const response = await fetch(server.url, { headers: authorization === undefined ? {} : { authorization } })
    return { status: response.status, body: await response.text() }
  }
  const { name } = server.spec
  assert.deepEqual(await get(`Bearer ${tokens.valid}`), { status: 200, body: JSON.stringify({ sub: SUBJECT }) }, name)
  if (!server.spec.authenticates) return
  const { valid } = tokens
  const flipped = `${valid.slice(0, -2)}${valid.at(-2) === "A" ? "B" : "A"}${valid.at(-1)}`
  assert.equal((await get(`Bearer ${flipped}`)).status, 401, `${name} accepted a bad signature`)
  assert.equal((await get()).status, 401, `${name} accepted a request without a token`)
  assert.equal((await get(`Bearer ${tokens.revoked}`)).status, server.spec.revokes ? 401 : 200, `${name}, revoked token`)
}

async function load(server: Server, token: string, seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url: server.url, connections: CONNECTIONS, duration: seconds, headers: { authorization: `Bearer ${token}` } })
  // A failed request is cheap: throughput with failures in it would flatter the server.
  if (result.errors !== 0 || result.timeouts !== 0 || result.non2xx !== 0) {
    throw new Error(`${server.spec.name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers under load`)
  }
  return result
}

async function measure(server: Server, token: string, redis: Redis): Promise<Sample> {
  const cpuBefore = await server.cpu()
  const redisBefore = await redisCpu(redis)
  const result = await load(server, token, ROUND_SECONDS)
  const cpuAfter = await server.cpu()
  const redisAfter = await redisCpu(redis)
  const requests = result.requests.total
  return {
    rps: requests / result.duration,
    p99: result.latency.p99,
    serverCpu: (cpuAfter - cpuBefore) / requests,
    redisCpu: ((redisAfter - redisBefore) * 1e6) / requests,
    cores: (cpuAfter - cpuBefore) / 1e6 / result.duration,
  }
}

/** CPU seconds the Redis server has used (user + system), from INFO. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info("cpu")
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN)
  return field("used_cpu_user") + field("used_cpu_sys")
}

function comparison(samples: Map<string, Sample[]>, metric: (sample: Sample) => number): Comparison {
  return {
    names: [...samples.keys()],
    samples: new Map([...samples].map(([name, list]) => [name, list.map(metric)])),
    options: { warmupMs: WARMUP_SECONDS * 1000, rounds: ROUNDS, roundMs: ROUND_SECONDS * 1000 },
  }
}

function report(samples: Map<string, Sample[]>, warnings: readonly RedisWarning[]): string {
  const rps = comparison(samples, (sample) => sample.rps)
  const p99 = comparison(samples, (sample) => sample.p99)
  // Requests per CPU second of the server and Redis together: steadier than req/s when the cores are contended.
  const perCpu = comparison(samples, (sample) => 1e6 / (sample.serverCpu + sample.redisCpu))
  const medianOf = (name: string, metric: (sample: Sample) => number) => median((samples.get(name) ?? []).map(metric))
  const rows = rps.names.map((contender) => [
    contender,
    formatOps(medianOps(rps, contender)),
    (rps.samples.get(contender) ?? []).map(formatOps).join(" / "),
    `${medianOps(p99, contender).toFixed(0)} ms`,
    medianOf(contender, (sample) => sample.serverCpu).toFixed(1),
    medianOf(contender, (sample) => sample.redisCpu).toFixed(1),
    medianOf(contender, (sample) => sample.cores).toFixed(2),
  ])
  const ratios = [...TARGETS, ...REFERENCES].map(([a, b]) => [
    `${a} / ${b}`,
    describe(ratio(rps, a, b)),
    describe(ratio(p99, a, b)),
    describe(ratio(perCpu, a, b)),
  ])
  const verdicts = TARGETS.map(([ours, peer, wanted]) => {
    const measured = ratio(rps, ours, peer)
    const outcome = verdict(measured, wanted)
    return [`req/s: ${ours} / ${peer}`, `>= ${formatRatio(wanted)}`, describe(measured), outcome === "met" ? outcome : `**${outcome}**`, describe(ratio(perCpu, ours, peer))]
  })
  const met = verdicts.filter((row) => row[3] === "met").length
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  const warned = warnings.map((warning) => warning.message).join(" ")
  return [
    `\`GET /me\` answering \`{"sub":"${SUBJECT}"}\` once \`Authorization: Bearer\` is checked. One HS256 access token (32-byte secret; claims \`iss sub aud exp iat jti sid gen role\`) for every server; each checks the signature (HS256 only), \`iss\`, \`aud\` and \`exp\`.`,
    "",
    `- revocable: \`authenticate(auth)\` as an \`onRequest\` hook (Fastify) or a middleware (Express); \`createAuth\` with the static HS256 key and \`redisStore\` on ${REDIS_URL}. Each request checks its token, session, subject cut-off and key against the local replica of the live revocations, kept current by the store's change feed: no Redis round trip per request.`,
    "- @fastify/jwt 10 (fast-jwt, no verify cache): `await request.jwtVerify()` in an `onRequest` hook, given the secret's bytes; with Redis, `trusted` awaits one `EXISTS <prefix><jti>` (node-redis, one connection, auto-pipelined).",
    "- express-jwt 8 (jsonwebtoken), given a secret KeyObject made once; `isRevoked` awaits the same `EXISTS`. The peers' check covers the token's `jti` only; revoking a session or a user would cost them more lookups, where revocable's one local check covers all four grains.",
    "- Ceilings: the same route with no authentication at all, on each framework; what no middleware can exceed.",
    "- Floor (Express): a hand-written middleware that only checks the HS256 MAC with the secret KeyObject, parses the payload and compares `exp`, `iss` and `aud`: no header check, no other claim, no revocation. What verifying a JWT at all costs in Express, below any library.",
    `- The store holds ${formatOps(REVOCATIONS + 1)} live revocations (half tokens, half sessions), and Redis as many revoked-jti keys for the peers. Before the load, every server must answer the token 200; every authenticating server a bad signature and a missing token 401, and a revoked token 401 (200 for @fastify/jwt without revocation, which cannot know).`,
    `- Redis is the machine's shared instance${warned === "" ? "" : ` (the store warned at open: ${warned})`}; persistence does not change reads.`,
    "",
    `Method: every server in its own process, all started before the first slot; autocannon in the suite's process, ${CONNECTIONS} connections, no pipelining. ${WARMUP_SECONDS} s untimed warm-up per server, then ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s per server, each round starting one server later. A slot with any error, timeout or non-2xx answer fails the suite. req/s and p99 are medians over rounds (autocannon's latency resolution is 1 ms); a ratio is the median of the per-round ratios, with their quartiles. Server CPU is the server process's user + system time per request; Redis CPU the Redis server's (\`INFO cpu\`; other clients of the shared Redis count too); cores busy is server CPU time over wall time. Load average at the end: ${load}.`,
    "",
    table(["server", "req/s (median)", "req/s per round", "p99 latency (median)", "server CPU µs/req", "Redis CPU µs/req", "server cores busy"], rows),
    "",
    table(["ratio", "req/s (higher is better)", "p99 (lower is better)", "requests per CPU second, server + Redis (higher is better)"], ratios),
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured: median (quartiles)", "verdict", "the same in requests per CPU second"], verdicts),
    "",
    `A target is met when even the first quartile of its per-round req/s ratios reaches it, not met when the third quartile stays below it, and uncertain in between (the run was too noisy to tell); with ${ROUNDS} rounds the quartiles lie halfway between the median and the extreme rounds.`,
    "",
    met === verdicts.length ? "All targets are met in this run." : `${met} of ${verdicts.length} targets met in this run.`,
    `For scale: Express with no authentication at all runs at ${describe(ratio(rps, BARE_EXPRESS, EXPRESS_JWT_REDIS))} the req/s of express-jwt + Redis here, which bounds what any Express middleware can reach against it; the minimal HS256 check alone, with no revocation, reaches ${describe(ratio(rps, FLOOR_EXPRESS, EXPRESS_JWT_REDIS))} of it, which bounds what any JWT check in Express can reach; revocable keeps ${describe(ratio(rps, REVOCABLE_EXPRESS, FLOOR_EXPRESS))} of that floor, ${describe(ratio(rps, REVOCABLE_EXPRESS, BARE_EXPRESS))} of bare Express's req/s and ${describe(ratio(rps, REVOCABLE_FASTIFY, BARE_FASTIFY))} of bare Fastify's.`,
    "",
    `Noise: 2 cores shared with other work carry autocannon, the server under load and Redis at once, so no server has a core to itself, and ${ROUNDS} rounds of ${ROUND_SECONDS} s give coarse medians. Read ratios within this run, with their quartiles; CPU per request, which does not depend on how much of a core a server got, is the steadiest figure. Never compare req/s across runs.`,
  ].join("\n")
}

function describe({ median, low, high }: Ratio): string {
  return `${formatRatio(median)} (${formatRatio(low)} to ${formatRatio(high)})`
}
