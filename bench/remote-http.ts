/**
 * HTTP throughput of a protected route whose EdDSA tokens come from a real auth server (`revocable serve` on
 * SQLite, in its own process): revocable's Fastify adapter over `revocable/remote`'s verifier, against
 * @fastify/jwt given the server's public key from its JWKS (no revocation), with bare Fastify as the ceiling.
 * Each server runs in its own process (bench/fixtures/remote-http-*.ts); autocannon runs here.
 *
 * @example
 * npm run bench -- remote-http
 */
import assert from "node:assert/strict"
import { readdirSync, readFileSync, mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { forkServer, type ForkedServer } from "./fixtures/http-shared.ts"
import type { RemoteHttpConfig } from "./fixtures/remote-http-shared.ts"
import { accessToken, registerClient, startRevocableServer, type RevocableServer } from "./fixtures/remote-server.ts"
import { formatOps, formatRatio, median, medianOps, ratio, table, verdict, type Comparison, type Ratio, type Section } from "./lib.ts"

export const name = "remote-http"

const AUDIENCE = "api"
const USERNAME = "bench-user"
const PASSWORD = "a long bench passphrase nobody guesses"
const CONNECTIONS = 50
const ROUNDS = 5
const ROUND_SECONDS = 5
const WARMUP_SECONDS = 2
/** Live revocations on the auth server, so that the verifier's replica is not empty. */
const REVOCATIONS = 1_000
const REMOTE_SOURCES = join(import.meta.dirname, "../packages/revocable/src/remote")

interface Spec {
  name: string
  fixture: string
  args?: string[]
  authenticates: boolean
  revokes: boolean
}

const REVOCABLE_REMOTE = "revocable Fastify adapter over revocable/remote"
const FASTIFY_JWT = "@fastify/jwt, JWKS key, no revocation"
const BARE_FASTIFY = "Fastify, no authentication (ceiling)"

const SPECS: readonly Spec[] = [
  { name: REVOCABLE_REMOTE, fixture: "remote-http-revocable.ts", authenticates: true, revokes: true },
  { name: FASTIFY_JWT, fixture: "remote-http-fastify-jwt.ts", authenticates: true, revokes: false },
  { name: BARE_FASTIFY, fixture: "http-bare.ts", args: ["fastify"], authenticates: false, revokes: false },
]

/** [revocable contender, peer, wanted req/s ratio]. */
const TARGETS: readonly [string, string, number][] = [[REVOCABLE_REMOTE, FASTIFY_JWT, 1.2]]
const REFERENCES: readonly [string, string][] = [
  [REVOCABLE_REMOTE, BARE_FASTIFY],
  [FASTIFY_JWT, BARE_FASTIFY],
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

interface Server extends ForkedServer {
  spec: Spec
}

interface Sample {
  rps: number
  p99: number
  /** Server process CPU per request, µs. */
  serverCpu: number
  cores: number
}

interface Tokens {
  valid: string
  revoked: string
  sub: string
}

export async function run(): Promise<Section> {
  const dataDir = mkdtempSync(join(tmpdir(), "revocable-bench-remote-http-"))
  let authServer: RevocableServer | undefined
  const servers: Server[] = []
  try {
    authServer = await startRevocableServer({ REVOCABLE_DATA_DIR: dataDir, REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000", REVOCABLE_LOGIN_LIMIT_IP: "1000" })
    const client = await registerClient(authServer, ["revocations:read"])
    const config: RemoteHttpConfig = { issuer: authServer.url, audience: AUDIENCE, ...client }
    const tokens = await seed(authServer)
    for (const spec of SPECS) servers.push(await start(spec, config))
    for (const server of servers) await check(server, tokens)
    for (const server of servers) await load(server, tokens.valid, WARMUP_SECONDS)
    const samples = new Map<string, Sample[]>(SPECS.map((spec) => [spec.name, []]))
    const authCpuBefore = authServer.cpuMs()
    const started = performance.now()
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(round + i) % servers.length] as Server
        samples.get(server.spec.name)?.push(await measure(server, tokens.valid))
      }
    }
    const authCores = (authServer.cpuMs() - authCpuBefore) / (performance.now() - started)
    return { title: "HTTP throughput of a protected route, EdDSA tokens from the auth server, verified remotely", body: report(samples, authCores) }
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
    await authServer?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** A user's token from the server's password grant, a second one revoked, and REVOCATIONS other live revocations. */
async function seed(server: RevocableServer): Promise<Tokens> {
  const registered = await fetch(`${server.url}/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: USERNAME, password: PASSWORD }) })
  assert.equal(registered.status, 201, await registered.text())
  const signIn = () => accessToken(server.url, { grant_type: "password", username: USERNAME, password: PASSWORD })
  const valid = await signIn()
  const revoked = await signIn()
  // Bare jtis of the user: as many entries in every replica as the HTTP bench's store holds.
  for (let i = 0; i < REVOCATIONS; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => adminRevoke(server, { kind: "token", id: `bench-jti-${i + j}`, subject: USERNAME })))
  }
  await adminRevoke(server, { kind: "token", id: revoked })
  return { valid, revoked, sub: claimsOf(valid).sub as string }
}

async function adminRevoke(server: RevocableServer, body: { kind: string; id: string; subject?: string }): Promise<void> {
  const response = await fetch(`${server.url}/admin/revocations`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.admin}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  })
  assert.equal(response.status, 201, await response.text())
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as Record<string, unknown>
}

/** Forks a server, sends it the configuration, waits until it listens. */
async function start(spec: Spec, config: RemoteHttpConfig): Promise<Server> {
  return { spec, ...(await forkServer(spec.fixture, spec.args ?? [], config)) }
}

/** Every server serves the token; the authenticating ones refuse a bad signature and no token, and revocable the revoked token. */
async function check(server: Server, tokens: Tokens): Promise<void> {
  const get = async (authorization?: string) => {
    const response = await fetch(server.url, { headers: authorization === undefined ? {} : { authorization } })
    return { status: response.status, body: await response.text() }
  }
  const { name } = server.spec
  const answer = await get(`Bearer ${tokens.valid}`)
  assert.equal(answer.status, 200, `${name}: ${answer.body}`)
  if (!server.spec.authenticates) return
  assert.equal(answer.body, JSON.stringify({ sub: tokens.sub }), name)
  const { valid } = tokens
  const flipped = `${valid.slice(0, -2)}${valid.at(-2) === "A" ? "B" : "A"}${valid.at(-1)}`
  assert.equal((await get(`Bearer ${flipped}`)).status, 401, `${name} accepted a bad signature`)
  assert.equal((await get()).status, 401, `${name} accepted a request without a token`)
  assert.equal((await get(`Bearer ${tokens.revoked}`)).status, server.spec.revokes ? 401 : 200, `${name}, revoked token`)
}

async function load(server: Server, token: string, seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url: server.url, connections: CONNECTIONS, duration: seconds, headers: { authorization: `Bearer ${token}` } })
  if (result.errors !== 0 || result.timeouts !== 0 || result.non2xx !== 0) {
    throw new Error(`${server.spec.name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers under load`)
  }
  return result
}

async function measure(server: Server, token: string): Promise<Sample> {
  // A moment for the previous slot's connections to close.
  await sleep(200)
  const cpuBefore = await server.cpu()
  const result = await load(server, token, ROUND_SECONDS)
  const cpuAfter = await server.cpu()
  const requests = result.requests.total
  return {
    rps: requests / result.duration,
    p99: result.latency.p99,
    serverCpu: (cpuAfter - cpuBefore) / requests,
    cores: (cpuAfter - cpuBefore) / 1e6 / result.duration,
  }
}

function comparison(samples: Map<string, Sample[]>, metric: (sample: Sample) => number): Comparison {
  return {
    names: [...samples.keys()],
    samples: new Map([...samples].map(([name, list]) => [name, list.map(metric)])),
    options: { warmupMs: WARMUP_SECONDS * 1000, rounds: ROUNDS, roundMs: ROUND_SECONDS * 1000 },
  }
}

/** Whether revocable/remote's verify goes through a cache of signature-verified tokens in the sources measured. */
function remoteHasVerifiedCache(): boolean {
  return readdirSync(REMOTE_SOURCES).some((file) => /\bnew VerifiedCache\b/.test(readFileSync(join(REMOTE_SOURCES, file), "utf8")))
}

function report(samples: Map<string, Sample[]>, authCores: number): string {
  const rps = comparison(samples, (sample) => sample.rps)
  const p99 = comparison(samples, (sample) => sample.p99)
  const perCpu = comparison(samples, (sample) => 1e6 / sample.serverCpu)
  const medianOf = (name: string, metric: (sample: Sample) => number) => median((samples.get(name) ?? []).map(metric))
  const rows = rps.names.map((contender) => [
    contender,
    formatOps(medianOps(rps, contender)),
    (rps.samples.get(contender) ?? []).map(formatOps).join(" / "),
    `${medianOps(p99, contender).toFixed(0)} ms`,
    medianOf(contender, (sample) => sample.serverCpu).toFixed(1),
    medianOf(contender, (sample) => sample.cores).toFixed(2),
  ])
  const ratios = [...TARGETS, ...REFERENCES].map(([a, b]) => [`${a} / ${b}`, describe(ratio(rps, a, b)), describe(ratio(p99, a, b)), describe(ratio(perCpu, a, b))])
  const verdicts = TARGETS.map(([ours, peer, wanted]) => {
    const measured = ratio(rps, ours, peer)
    const outcome = verdict(measured, wanted)
    return [`req/s: ${ours} / ${peer}`, `>= ${formatRatio(wanted)}`, describe(measured), outcome === "met" ? outcome : `**${outcome}**`, describe(ratio(perCpu, ours, peer))]
  })
  const met = verdicts.filter((row) => row[3] === "met").length
  const cached = remoteHasVerifiedCache()
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  return [
    `\`GET /me\` answering \`{"sub": …}\` once \`Authorization: Bearer\` is checked. The token is a user's EdDSA (Ed25519) access token from a real auth server, \`revocable serve\` on SQLite in its own process, whose issuer is its own URL (password grant; claims \`iss sub aud exp iat jti sid gen\` and the server's own). Each API server checks the signature (EdDSA only), \`iss\`, \`aud\` and \`exp\`.`,
    "",
    `- revocable: \`authenticate(remoteVerifier({ issuer, clientId, clientSecret }))\` as an \`onRequest\` hook. The verifier discovered the JWKS and the revocation feed from the server's metadata, took a client_credentials token (a client registered with \`revocations:read\`) and follows the Server-Sent Events stream; each request checks the signature with WebCrypto, the claims, then the token, session, subject cut-off and key against its local replica: no round trip to the auth server per request. ${cached ? "Its verify goes through a cache of signature-verified tokens (expiry and revocation still checked on every call)." : "**Its verify has no cache of signature-verified tokens in the sources measured** (the seam in packages/revocable/src/remote/index.ts is still empty): every request pays a full Ed25519 verify through WebCrypto."}`,
    "- @fastify/jwt 10 (fast-jwt, no verify cache): `await request.jwtVerify()` in an `onRequest` hook. Its key is what @fastify/jwt users without get-jwks do: the server's JWKS fetched once at start (`jwks_uri` from the metadata), the Ed25519 JWK turned into a PEM with node:crypto's `createPublicKey(…).export({ type: \"spki\" })`, given as `secret.public`, `algorithms: [\"EdDSA\"]`. No revocation: a revoked token is accepted until it expires. No `typ` check either.",
    "- Ceiling: the same route on Fastify with no authentication at all.",
    `- The auth server holds ${formatOps(REVOCATIONS + 1)} live revocations (bare jtis made through the admin API, and one token of the user). Before the load, every server must answer the token 200; the authenticating ones a bad signature and a missing token 401, and the revoked token 401 (revocable) or 200 (@fastify/jwt, which cannot know).`,
    "",
    `Method: every API server in its own process, all started before the first slot; autocannon in the suite's process, ${CONNECTIONS} connections, no pipelining; the auth server runs beside them (it only feeds heartbeats during the load: ${authCores.toFixed(3)} cores busy on average over the rounds). ${WARMUP_SECONDS} s untimed warm-up per server, then ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s per server, each round starting one server later. A slot with any error, timeout or non-2xx answer fails the suite. req/s and p99 are medians over rounds (autocannon's latency resolution is 1 ms); a ratio is the median of the per-round ratios, with their quartiles. Server CPU is the API server process's user + system time per request; cores busy is that CPU time over wall time. Load average at the end: ${load}.`,
    "",
    table(["server", "req/s (median)", "req/s per round", "p99 latency (median)", "server CPU µs/req", "server cores busy"], rows),
    "",
    table(["ratio", "req/s (higher is better)", "p99 (lower is better)", "requests per CPU second of the server (higher is better)"], ratios),
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured: median (quartiles)", "verdict", "the same in requests per CPU second"], verdicts),
    "",
    `A target is met when even the first quartile of its per-round req/s ratios reaches it, not met when the third quartile stays below it, and uncertain in between (the run was too noisy to tell).`,
    "",
    met === verdicts.length ? "All targets are met in this run." : `${met} of ${verdicts.length} targets met in this run.`,
    "",
    `Noise: 2 cores shared with other work carry autocannon, the API server under load and the auth server at once, so no server has a core to itself, and ${ROUNDS} rounds of ${ROUND_SECONDS} s give coarse medians. Read ratios within this run, with their quartiles; CPU per request, which does not depend on how much of a core a server got, is the steadiest figure. Never compare req/s across runs.`,
  ].join("\n")
}

function describe({ median, low, high }: Ratio): string {
  return `${formatRatio(median)} (${formatRatio(low)} to ${formatRatio(high)})`
}
