/**
 * Revocation propagation from a real auth server to 100 revocable/remote verifiers in other processes: this
 * process (A) revokes access tokens with `auth.revoke` on an instance of the application sharing the server's
 * store (what a logout handler calls), and again through the server's admin API (`POST /admin/revocations`,
 * which calls the same on the server's own instance), ENFORCER_PROCESSES processes (bench/fixtures/remote-enforcer.ts) each hold VERIFIERS /
 * ENFORCER_PROCESSES verifiers subscribed to the server's Server-Sent Events stream, and record when each learns of
 * each revocation. Also the server's memory and CPU per subscriber. `revocable serve` runs on Redis.
 *
 * @example
 * npm run bench -- remote-propagation
 */
import assert from "node:assert/strict"
import { fork, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { Agent, request } from "node:http"
import { loadavg } from "node:os"
import { setTimeout as sleep } from "node:timers/promises"
import { createClient } from "redis"
import { createAuth, type Auth } from "revocable"
import { redisStore } from "revocable/stores/redis"
import type { EnforcerCommand, EnforcerReply } from "./fixtures/remote-enforcer.ts"
import { clientToken, cpuMsOf, registerClient, startRevocableServer, type RevocableServer } from "./fixtures/remote-server.ts"
import { now } from "./fixtures/shared.ts"
import { formatOps, median, table, type Section } from "./lib.ts"

export const name = "remote-propagation"

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const VERIFIERS = 100
/** Processes holding the verifiers: a few event loops for 2 cores, not 100 (see the noise note). */
const ENFORCER_PROCESSES = 4
const REVOCATIONS = 1000
/** The tokens' lifetime: they must outlive the run. */
const ACCESS_TTL_S = 3600
const ROUNDS = 3
/** Revocations of a round before the measured ones, paced then in a burst, on each path: the JIT compiles the paths first. */
const WARMUP_REVOCATIONS = 200
/** One revocation every this many ms in the paced phases: 100 per second, each fanned out to 100 verifiers. */
const INTERVAL_MS = 10
const P99_TARGET_MS = 10
const BURST_TARGET_MS = 200
/** Revocations made before any subscriber, to price a revocation on the server without fan-out. */
const BASELINE_REVOCATIONS = 500
const IDLE_WINDOW_MS = 5000
const COLLECT_TIMEOUT_MS = 20_000
const CLOCK_PINGS = 20
/** Concurrent admin requests at most: the burst starts every revoke at once, queued on these connections. */
const ADMIN_CONNECTIONS = 64
const ENFORCER = new URL("./fixtures/remote-enforcer.ts", import.meta.url)

/** How A revokes: `auth.revoke` on an instance sharing the store, or the server's admin API. */
const PATHS = ["instance", "admin"] as const
type RevokePath = (typeof PATHS)[number]
const PATH_NAMES: Record<RevokePath, string> = { instance: "Revoked on an instance", admin: "Revoked through the admin API" }

interface PhaseResult {
  published: number[]
  acked: number[]
  /** [verifier][token] over every process, when the verifier's replica held the revocation. */
  event: (number | null)[][]
  /** [process][token]: when that process's first verifier's verify refused the token. */
  enforced: (number | null)[][]
  accepted: number
  failed: string[]
  /** Server CPU per revocation during the phase, µs. */
  serverCpuUs: number
  /** `changes` frames the server wrote during the phase, over every subscriber: how the changes were batched. */
  changeFrames: number
  /** CPU each part spent from the phase's start until every verifier had every revocation (ms). */
  cpu: Record<CpuPart, number>
}

const CPU_PARTS = ["A", "server", "Redis", "verifiers"] as const
type CpuPart = (typeof CPU_PARTS)[number]
const CPU_PART_NAMES: Record<CpuPart, string> = { A: "A", server: "server", Redis: "Redis", verifiers: `${ENFORCER_PROCESSES} verifier processes` }

export async function run(): Promise<Section> {
  const namespace = `bench_rp_${randomBytes(4).toString("hex")}`
  let server: RevocableServer | undefined
  let instance: Auth | undefined
  const enforcers: Enforcer[] = []
  const agent = new Agent({ keepAlive: true, maxSockets: ADMIN_CONNECTIONS })
  try {
    server = await startRevocableServer({
      REVOCABLE_STORE: REDIS_URL,
      REVOCABLE_STORE_NAMESPACE: namespace,
      REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true",
      REVOCABLE_ACCESS_TTL: `${ACCESS_TTL_S}s`,
    })
    const feedClient = await registerClient(server, ["revocations:read"])
    const victims = await registerClient(server, [])
    const issue = async (count: number) => {
      const tokens: string[] = []
      for (let i = 0; i < count; i += 25) tokens.push(...(await Promise.all(Array.from({ length: Math.min(25, count - i) }, () => clientToken((server as RevocableServer).url, victims)))))
      return tokens
    }
    const baselineTokens = { instance: await issue(BASELINE_REVOCATIONS), admin: await issue(BASELINE_REVOCATIONS) }
    const tokens: Record<string, string[]> = {}
    for (const path of PATHS) {
      tokens[`${path} paced warm-up`] = await issue(WARMUP_REVOCATIONS)
      tokens[`${path} burst warm-up`] = await issue(WARMUP_REVOCATIONS)
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const path of PATHS) {
        tokens[`${path} paced ${round}`] = await issue(REVOCATIONS)
        tokens[`${path} burst ${round}`] = await issue(REVOCATIONS)
      }
    }
    // The application's instance: the server's store, audience and access lifetime, its keys read from the store.
    instance = createAuth({ issuer: server.url, audience: "api", accessTtl: ACCESS_TTL_S, store: redisStore({ url: REDIS_URL }, { prefix: namespace, onWarning: () => {} }) })
    await instance.ready()
    // A logout handler revokes the token its request was just authenticated with: verified beforehand, as there.
    for (const [phase, list] of [...Object.entries(tokens), ["baseline", baselineTokens.instance] as const]) {
      if (phase === "baseline" || phase.startsWith("instance")) for (const token of list) await instance.verify(token)
    }
    const revokers: Record<RevokePath, Revoke> = { instance: instanceRevoker(instance), admin: adminRevoker(server, agent) }

    const idleAlone = await cpuRate(server, IDLE_WINDOW_MS)
    const baseline = { instance: await publish(server, revokers.instance, baselineTokens.instance, INTERVAL_MS), admin: await publish(server, revokers.admin, baselineTokens.admin, INTERVAL_MS) }
    const rssAlone = server.rssBytes()

    const perProcess = VERIFIERS / ENFORCER_PROCESSES
    for (let p = 0; p < ENFORCER_PROCESSES; p++) enforcers.push(new Enforcer())
    const setupStarted = now()
    await Promise.all(
      enforcers.map((enforcer) =>
        enforcer.request({ type: "setup", issuer: server!.url, clientId: feedClient.clientId, clientSecret: feedClient.clientSecret, verifiers: perProcess, tokens }, "ready"),
      ),
    )
    const setupMs = now() - setupStarted
    await sleep(2000)
    const rssSubscribed = server.rssBytes()
    const idleSubscribed = await cpuRate(server, IDLE_WINDOW_MS)
    let clockRoundTripMs = Infinity
    for (const enforcer of enforcers) clockRoundTripMs = Math.min(clockRoundTripMs, await checkClock(enforcer))

    console.log("remote-propagation: warm-up...")
    for (const path of PATHS) {
      await phase(server, revokers[path], enforcers, `${path} paced warm-up`, tokens, INTERVAL_MS)
      await phase(server, revokers[path], enforcers, `${path} burst warm-up`, tokens, 0)
    }
    const results: Record<RevokePath, Phases> = { instance: { paced: [], burst: [] }, admin: { paced: [], burst: [] } }
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(`remote-propagation: round ${round}...`)
      for (const path of PATHS) {
        results[path].paced.push(await phase(server, revokers[path], enforcers, `${path} paced ${round}`, tokens, INTERVAL_MS))
        results[path].burst.push(await phase(server, revokers[path], enforcers, `${path} burst ${round}`, tokens, 0))
      }
    }
    return {
      title: "Revocation propagation from the auth server to 100 remote verifiers",
      body: report({ results, baseline, idleAlone, idleSubscribed, rssAlone, rssSubscribed, setupMs, clockRoundTripMs }),
    }
  } finally {
    await Promise.all(enforcers.map((enforcer) => enforcer.close()))
    agent.destroy()
    await instance?.close()
    await server?.stop()
    await deleteKeys(namespace)
  }
}

/** The server's CPU over a window of `ms` in which nothing is asked of it, in ms of CPU per second. */
async function cpuRate(server: RevocableServer, ms: number): Promise<number> {
  const before = server.cpuMs()
  const started = performance.now()
  await sleep(ms)
  return ((server.cpuMs() - before) * 1000) / (performance.now() - started)
}

type Revoke = (token: string) => Promise<void>

/** `auth.revoke(token)` on the application's instance: a Redis script, then the store's feed tells the server. */
function instanceRevoker(auth: Auth): Revoke {
  return async (token) => {
    if ((await auth.revoke(token, { reason: "bench", actor: "bench" })) === null) throw new Error("auth.revoke: not a live token of this server")
  }
}

/** `POST /admin/revocations {kind: "token", id: <the token>}` as the admin, on keep-alive connections. */
function adminRevoker(server: RevocableServer, agent: Agent): Revoke {
  const url = new URL("/admin/revocations", server.url)
  return (token) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ kind: "token", id: token })
      const call = request(url, { method: "POST", agent, headers: { authorization: `Bearer ${server.admin}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (response) => {
        let text = ""
        response.on("data", (chunk) => (text += chunk))
        response.on("end", () => (response.statusCode === 201 ? resolve() : reject(new Error(`POST /admin/revocations answered ${response.statusCode}: ${text}`))))
      })
      call.on("error", reject)
      call.end(body)
    })
}

/** Revokes every token, one every `intervalMs` (open loop), or all at once for 0; with the server's CPU per revocation. */
async function publish(server: RevocableServer, revoke: Revoke, tokens: readonly string[], intervalMs: number): Promise<{ published: number[]; acked: number[]; serverCpuUs: number }> {
  const published: number[] = []
  const acked: number[] = []
  const writes: Promise<void>[] = []
  const cpuBefore = server.cpuMs()
  const start = now() + 10
  for (const [index, token] of tokens.entries()) {
    if (intervalMs > 0) {
      const wait = start + index * intervalMs - now()
      if (wait >= 1) await sleep(wait)
    }
    published[index] = now()
    writes.push(revoke(token).then(() => void (acked[index] = now())))
  }
  await Promise.all(writes)
  // The fan-out to the subscribers follows the acknowledgements by a little: counted in the phase.
  await sleep(500)
  return { published, acked, serverCpuUs: ((server.cpuMs() - cpuBefore) * 1000) / tokens.length }
}

async function phase(server: RevocableServer, revoke: Revoke, enforcers: readonly Enforcer[], name: string, phases: Record<string, string[]>, intervalMs: number): Promise<PhaseResult> {
  const framesBefore = await changeFramesSent(server)
  const redisPid = await redisProcessId()
  const cpuNow = (): Record<CpuPart, number> => {
    const own = process.cpuUsage()
    return {
      A: (own.user + own.system) / 1000,
      server: server.cpuMs(),
      Redis: cpuMsOf(redisPid),
      verifiers: enforcers.reduce((sum, enforcer) => sum + cpuMsOf(enforcer.pid), 0),
    }
  }
  const cpuBefore = cpuNow()
  const { published, acked, serverCpuUs } = await publish(server, revoke, phases[name] as string[], intervalMs)
  const replies = await Promise.all(enforcers.map((enforcer) => enforcer.request({ type: "collect", phase: name, timeoutMs: COLLECT_TIMEOUT_MS }, "times")))
  const cpuAfter = cpuNow()
  const cpu = Object.fromEntries(CPU_PARTS.map((part) => [part, cpuAfter[part] - cpuBefore[part]])) as Record<CpuPart, number>
  const changeFrames = (await changeFramesSent(server)) - framesBefore
  return {
    published,
    acked,
    event: replies.flatMap((reply) => reply.event),
    enforced: replies.map((reply) => reply.enforced),
    accepted: replies.reduce((sum, reply) => sum + reply.accepted, 0),
    failed: replies.flatMap((reply) => reply.failed),
    serverCpuUs,
    changeFrames,
    cpu,
  }
}

/** The Redis server's pid, for its CPU from /proc: it runs on this machine. */
async function redisProcessId(): Promise<number> {
  const client = createClient({ url: REDIS_URL })
  await client.connect()
  try {
    return Number(/^process_id:(\d+)/m.exec(await client.info("server"))?.[1])
  } finally {
    await client.close()
  }
}

/** The server's count of `changes` frames written to stream subscribers, from its /metrics. */
async function changeFramesSent(server: RevocableServer): Promise<number> {
  const text = await (await fetch(new URL("/metrics", server.url))).text()
  const line = /^revocable_stream_events_total\{event="changes"\} (\d+)$/m.exec(text)
  return line === null ? 0 : Number(line[1])
}

/** A's and an enforcer's CLOCK_MONOTONIC agree: its reading falls between A's send and A's receipt of the reply. */
async function checkClock(enforcer: Enforcer): Promise<number> {
  let shortest = Infinity
  for (let i = 0; i < CLOCK_PINGS; i++) {
    const sent = now()
    const reply = await enforcer.request({ type: "clock" }, "clock")
    const received = now()
    assert.ok(sent <= reply.at && reply.at <= received, "an enforcer's clock disagrees with A's")
    shortest = Math.min(shortest, received - sent)
  }
  return shortest
}

/** One process of verifiers, spoken to one request at a time. */
class Enforcer {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #waiting: { resolve: (reply: EnforcerReply) => void; reject: (error: Error) => void } | null = null

  get pid(): number {
    return this.#child.pid as number
  }

  constructor() {
    this.#child = fork(ENFORCER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] })
    this.#child.on("message", (reply: EnforcerReply) => {
      const waiting = this.#waiting
      this.#waiting = null
      if (reply.type === "error") waiting?.reject(new Error(`enforcer: ${reply.message}`))
      else waiting?.resolve(reply)
    })
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#waiting?.reject(new Error(`enforcer exited with ${signal ?? `code ${code}`}`))
        this.#waiting = null
        resolve()
      })
    })
  }

  request<T extends EnforcerReply["type"]>(command: EnforcerCommand, expected: T): Promise<Extract<EnforcerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#waiting = {
        resolve: (reply) => (reply.type === expected ? resolve(reply as Extract<EnforcerReply, { type: T }>) : reject(new Error(`enforcer answered ${reply.type}`))),
        reject,
      }
      this.#child.send(command)
    })
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.connected) this.#child.send({ type: "close" } satisfies EnforcerCommand)
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000)
    await this.#exited
    clearTimeout(timer)
  }
}

async function deleteKeys(namespace: string): Promise<void> {
  const client = createClient({ url: REDIS_URL })
  client.on("error", () => undefined)
  await client.connect()
  try {
    for await (const keys of client.scanIterator({ MATCH: `{${namespace}}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.unlink(keys)
    }
  } finally {
    await client.close()
  }
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Infinity
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return "-"
  return `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ms`
}

function spread(values: readonly number[]): string {
  if (values.length === 1) return ms(values[0] as number)
  return `${ms(median(values))} (${ms(Math.min(...values))} to ${ms(Math.max(...values))})`
}

/** From publication to each (verifier, token) event, sorted; Infinity for one that never came. */
function pairLatencies(result: PhaseResult): number[] {
  const values: number[] = []
  for (const events of result.event) for (const [index, at] of events.entries()) values.push(at === null ? Infinity : at - (result.published[index] as number))
  return values.sort((a, b) => a - b)
}

/** From publication to the last verifier's event, per token: "everywhere". */
function everywhereLatencies(result: PhaseResult): number[] {
  return result.published.map((at, index) => Math.max(...result.event.map((events) => (events[index] ?? Infinity) - at))).sort((a, b) => a - b)
}

function enforcedLatencies(result: PhaseResult): number[] {
  const values: number[] = []
  for (const times of result.enforced) for (const [index, at] of times.entries()) values.push(at === null ? Infinity : at - (result.published[index] as number))
  return values.sort((a, b) => a - b)
}

/** The last event of any verifier; Infinity when one never came. */
function lastEvent(result: PhaseResult): number {
  let last = -Infinity
  for (const events of result.event) for (const at of events) last = Math.max(last, at ?? Infinity)
  return last
}

function missing(result: PhaseResult): number {
  return result.event.reduce((sum, events) => sum + events.filter((at) => at === null).length, 0)
}

interface Phases {
  paced: PhaseResult[]
  burst: PhaseResult[]
}

interface Measured {
  results: Record<RevokePath, Phases>
  baseline: Record<RevokePath, { serverCpuUs: number }>
  idleAlone: number
  idleSubscribed: number
  rssAlone: number
  rssSubscribed: number
  setupMs: number
  clockRoundTripMs: number
}

function report(measured: Measured): string {
  const { results, baseline } = measured
  const pairs = VERIFIERS * REVOCATIONS
  const notes: string[] = []
  for (const path of PATHS) {
    for (const result of [...results[path].paced, ...results[path].burst]) {
      if (result.accepted > 0 || result.failed.length > 0) {
        notes.push(`- **${PATH_NAMES[path]}: ${result.accepted} verifies still accepted a token after its revocation event; ${result.failed.length} failed otherwise (${[...new Set(result.failed)].join(", ")}).**`)
      }
    }
  }
  const writes = (result: { published: number[]; acked: number[] }) => result.acked.map((at, index) => at - (result.published[index] as number)).sort((a, b) => a - b)

  const pacedRows = (phases: Phases) =>
    phases.paced.map((result, round) => {
      const all = pairLatencies(result)
      const everywhere = everywhereLatencies(result)
      const enforced = enforcedLatencies(result)
      const write = writes(result)
      return [
        `paced ${round + 1}`,
        `${formatOps(pairs - missing(result))} / ${formatOps(pairs)}`,
        `${ms(percentile(all, 50))} / ${ms(percentile(all, 99))} / ${ms(all.at(-1) as number)}`,
        `${ms(percentile(everywhere, 50))} / ${ms(percentile(everywhere, 99))}`,
        `${ms(percentile(enforced, 50))} / ${ms(percentile(enforced, 99))}`,
        `${ms(percentile(write, 50))} / ${ms(percentile(write, 99))}`,
      ]
    })
  const burstRows = (phases: Phases) =>
    phases.burst.map((result, round) => {
      const first = result.published[0] as number
      return [
        `burst ${round + 1}`,
        `${formatOps(pairs - missing(result))} / ${formatOps(pairs)}`,
        ms(lastEvent(result) - first),
        ms(Math.max(...result.acked) - first),
        ms(Math.max(...result.published) - first),
        `${ms(percentile(pairLatencies(result), 50))} / ${ms(percentile(pairLatencies(result), 99))}`,
        (result.changeFrames / VERIFIERS).toFixed(1),
        CPU_PARTS.map((part) => result.cpu[part].toFixed(0)).join(" / "),
      ]
    })
  const sections = PATHS.flatMap((path) => [
    `### ${PATH_NAMES[path]}: paced`,
    "",
    table(["round", "delivered", "every (verifier, revocation): p50 / p99 / max", "everywhere (last verifier) per revocation: p50 / p99", "verify refused (first verifier of each process): p50 / p99", "revoke call to answer in A: p50 / p99"], pacedRows(results[path])),
    "",
    `### ${PATH_NAMES[path]}: burst`,
    "",
    table(["round", "delivered", "enforced everywhere after", "A's last answer after", "A's last call after", "every (verifier, revocation): p50 / p99", "frames per subscriber", `CPU ms: ${CPU_PARTS.map((part) => CPU_PART_NAMES[part]).join(" / ")}`], burstRows(results[path])),
    "",
  ])

  const verdict = (value: number, target: number) => (value < target ? "met" : "**not met**")
  const verdicts = PATHS.flatMap((path) => {
    const { paced, burst } = results[path]
    const pacedP99 = paced.map((result) => percentile(pairLatencies(result), 99))
    const burstAll = burst.map((result) => lastEvent(result) - (result.published[0] as number))
    const lastAck = burst.map((result) => Math.max(...result.acked) - (result.published[0] as number))
    if (path === "admin" && median(burstAll) >= BURST_TARGET_MS && median(lastAck) >= BURST_TARGET_MS) {
      notes.push(`- ${PATH_NAMES.admin}, burst: A's ${formatOps(REVOCATIONS)} admin requests alone take ${spread(lastAck)} to be answered, over the ${BURST_TARGET_MS} ms by themselves: each is an HTTP request that verifies the admin's token and the revoked token (Ed25519), reads the admin's record for the audit log, runs the store's script and appends the audit event, one after the other. That is the admin API's throughput, not the feed's: the same revocations made by \`auth.revoke\` reach every verifier in the time of the first table.`)
    }
    return [
      [`${PATH_NAMES[path]}: paced, p99 over every (verifier, revocation)`, `< ${P99_TARGET_MS} ms`, spread(pacedP99), verdict(median(pacedP99), P99_TARGET_MS)],
      [`${PATH_NAMES[path]}: burst of ${formatOps(REVOCATIONS)}, enforced everywhere after`, `< ${BURST_TARGET_MS} ms`, spread(burstAll), verdict(median(burstAll), BURST_TARGET_MS)],
    ]
  })
  const targeted = verdicts.slice(0, 2)
  const met = targeted.filter((row) => row[3] === "met").length

  const serverRows = [
    ["RSS", `${(measured.rssAlone / 2 ** 20).toFixed(1)} MiB`, `${(measured.rssSubscribed / 2 ** 20).toFixed(1)} MiB`, `${((measured.rssSubscribed - measured.rssAlone) / VERIFIERS / 1024).toFixed(1)} KiB`],
    ["CPU while idle (heartbeats)", `${measured.idleAlone.toFixed(1)} ms/s`, `${measured.idleSubscribed.toFixed(1)} ms/s`, `${(((measured.idleSubscribed - measured.idleAlone) / VERIFIERS) * 1000).toFixed(0)} µs/s`],
    ...PATHS.map((path) => {
      const subscribedCpu = median(results[path].paced.map((result) => result.serverCpuUs))
      const burstCpu = median(results[path].burst.map((result) => result.serverCpuUs))
      return [
        `CPU per revocation, paced: ${PATH_NAMES[path]}`,
        `${baseline[path].serverCpuUs.toFixed(0)} µs`,
        `${subscribedCpu.toFixed(0)} µs (burst: ${burstCpu.toFixed(0)} µs)`,
        `${((subscribedCpu - baseline[path].serverCpuUs) / VERIFIERS).toFixed(1)} µs`,
      ]
    }),
  ]
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  return [
    `A real auth server, \`revocable serve\` on Redis (one instance, a fresh namespace deleted afterwards), in its own process. ${VERIFIERS} \`remoteVerifier\`s in ${ENFORCER_PROCESSES} other processes (bench/fixtures/remote-enforcer.ts, ${VERIFIERS / ENFORCER_PROCESSES} each, \`mode: "stream"\`), each on its own connection with its own client_credentials token, follow the server's Server-Sent Events stream. A (the bench) revokes client_credentials access tokens (EdDSA) issued beforehand, in two ways:`,
    "",
    `- **${PATH_NAMES.instance}** (the target's measure): \`auth.revoke(token)\` on a \`createAuth\` instance in A on the server's Redis store and namespace, as an application's logout handler calls it, after its \`authenticate\` verified the same token (A's instance verified each token beforehand, so the signature is found in its cache of verified tokens, as it would be there); the store's change feed tells the server's instance, which streams it to its subscribers.`,
    `- **${PATH_NAMES.admin}**: \`POST /admin/revocations {kind: "token", id: <token>}\` as the admin, which calls \`auth.revoke\` on the server's own instance and records the audit event before it answers.`,
    "",
    `"Published" is when A calls. Every verifier records when its \`revoked\` event fires for each token: its replica holds the revocation, which its verify checks after the signature, so from then it refuses the token ("event"). The first verifier of each process also verifies the token at that moment and records when verify rejects it with \`token_revoked\` ("verify refused"); every token was verified and accepted beforehand. All processes read CLOCK_MONOTONIC (\`process.hrtime\`), checked by IPC pings (shortest round trip ${ms(measured.clockRoundTripMs)}); the enforcers keep their times and send them after each phase.`,
    "",
    `- Paced: ${formatOps(REVOCATIONS)} revocations, one every ${INTERVAL_MS} ms on A's timer, open loop; so ${formatOps(REVOCATIONS * VERIFIERS)} (verifier, revocation) deliveries per phase.`,
    `- Burst: ${formatOps(REVOCATIONS)} revocations started at once (one synchronous loop; through the admin API at most ${ADMIN_CONNECTIONS} requests in flight on keep-alive connections); the time from the first call until the last verifier has the last one.`,
    `- Frames per subscriber: the \`changes\` events the server wrote to each subscriber in the burst (its /metrics); the server writes each batch of changes the store's feed delivered together as one frame, so fewer frames mean larger batches. CPU ms: what each process spent from the burst's start until every verifier had every revocation (plus the 500 ms A waits after its last answer), from /proc (10 ms ticks); on 2 cores their sum over 2 is a floor for the burst.`,
    `- First a warm-up, not reported: ${formatOps(WARMUP_REVOCATIONS)} revocations paced and ${formatOps(WARMUP_REVOCATIONS)} in a burst on each path, so that the rounds measure code the JIT has compiled. Then ${ROUNDS} rounds, each of both phases on both paths; verdicts go by the median round (range over rounds in brackets).`,
    `- The ${VERIFIERS} verifiers were ready (discovery, JWKS, token, snapshot) ${ms(measured.setupMs)} after their processes were told to start them (the processes' own start and the tokens' first verify included).`,
    "",
    ...sections,
    `### The server, per subscriber`,
    "",
    table(["", "no subscriber", `${VERIFIERS} subscribers`, "per subscriber"], serverRows),
    "",
    `RSS from /proc before the verifiers connected and 2 s after all were ready (a single reading each: the server's garbage collector moves it by megabytes, so the per-subscriber figure is rough). CPU is the server process's user + system time (/proc, 10 ms ticks): idle over ${IDLE_WINDOW_MS / 1000} s with nothing asked of it; per revocation over a paced run of ${formatOps(BASELINE_REVOCATIONS)} revocations on each path before any subscriber, and over the paced phases with ${VERIFIERS}; the difference, divided by ${VERIFIERS}, is what each subscriber costs per revocation (its SSE frame written, heartbeats).`,
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured (median round)", "verdict"], verdicts),
    "",
    `The targets are judged on ${PATH_NAMES.instance.toLowerCase()}, the propagation itself; the admin API's rows are for comparison. ${met === targeted.length ? "Both targets are met in this run." : `${met} of ${targeted.length} targets are met in this run.`}`,
    "",
    "Notes:",
    "",
    ...notes,
    `- Why ${ENFORCER_PROCESSES} processes of ${VERIFIERS / ENFORCER_PROCESSES} verifiers and not one verifier per process: on 2 cores, 100 Node processes (each ~50 MB and its own event loop) would each be woken for every revocation, and what the bench measured would be the kernel's run queue, not the feed. Each verifier still has its own HTTP connection, token, parser and replica, so the server sees ${VERIFIERS} independent subscribers; within a process they share an event loop, so a late verifier may wait for its neighbours' work.`,
    `- The recording is part of what is measured: for each (verifier, revocation) the \`revoked\` listener reads the clock and looks the token up in a Map, and each process's first verifier verifies the token. That runs on the verifier processes' cores, in their CPU column and in the burst's time, beside the parsing and applying it measures.`,
    `- The machine has 2 cores shared by A, the server, Redis, the ${ENFORCER_PROCESSES} verifier processes and other work (load average at the end: ${load}): tails move from run to run. In the burst, ${formatOps(REVOCATIONS * VERIFIERS)} events are parsed and applied across the verifier processes, which compete for the same cores as the server writing them.`,
  ].join("\n")
}
