/**
 * Revocation propagation between two OS processes on loopback: this process (A) revokes access tokens issued
 * beforehand, process B (bench/fixtures/enforcer.ts, its own createAuth on the same store) records when verify
 * of each token starts refusing it. On PostgreSQL (LISTEN/NOTIFY), Redis (stream) and SQLite (polling).
 *
 * @example
 * npm run bench -- propagation
 */
import assert from "node:assert/strict"
import { fork, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import pg from "pg"
import { createClient } from "redis"
import { createAuth, type Auth } from "revocable"
import { ACCESS_TTL, AUDIENCE, ISSUER, makeStore, now, type Command, type Reply, type StoreSpec } from "./fixtures/shared.ts"
import { formatOps, median, table, type Section } from "./lib.ts"

export const name = "propagation"

const REVOCATIONS = 1000
/** Each store runs this many paced phases and bursts, alternating; verdicts go by the median round. */
const ROUNDS = 3
const INTERVAL_MS = 2
const P99_TARGET_MS = 5
const BURST_TARGET_MS = 100
const SQLITE_POLL_MS = 50
/** How long B waits for a phase's last enforcement before it reports what it has. */
const COLLECT_TIMEOUT_MS = 15_000
const ISSUE_CONCURRENCY = 25
const CLOCK_PINGS = 20
const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const ENFORCER = new URL("./fixtures/enforcer.ts", import.meta.url)

interface Target {
  label: string
  /** Null for a store without a propagation target (polling). */
  p99TargetMs: number | null
  burstTargetMs: number | null
  spec: () => StoreSpec
  cleanup: (spec: StoreSpec) => Promise<void>
}

interface PhaseResult {
  /** When A called revoke, when it resolved; when B's event fired and when B's verify refused the token. */
  published: number[]
  acked: number[]
  event: (number | null)[]
  enforced: (number | null)[]
  accepted: number
  failed: string[]
}

type Outcome =
  | { target: Target; ok: true; paced: PhaseResult[]; burst: PhaseResult[]; clockRoundTripMs: number; warnings: string[] }
  | { target: Target; ok: false; error: string }

export async function run(): Promise<Section> {
  const run = `${process.pid}_${randomBytes(4).toString("hex")}`
  const targets: Target[] = [
    {
      label: "PostgreSQL (LISTEN/NOTIFY)",
      p99TargetMs: P99_TARGET_MS,
      burstTargetMs: BURST_TARGET_MS,
      spec: () => ({ kind: "postgres", url: POSTGRES_URL, schema: `bench_propagation_${run}` }),
      cleanup: dropSchema,
    },
    {
      label: "Redis (stream, XREAD BLOCK)",
      p99TargetMs: P99_TARGET_MS,
      burstTargetMs: BURST_TARGET_MS,
      spec: () => ({ kind: "redis", url: REDIS_URL, prefix: `bench:propagation:${run}` }),
      cleanup: deleteRedisKeys,
    },
    {
      label: `SQLite, one file (polled every ${SQLITE_POLL_MS} ms)`,
      p99TargetMs: null,
      burstTargetMs: null,
      spec: () => ({ kind: "sqlite", path: join(mkdtempSync(join(tmpdir(), "revocable-bench-")), "auth.db"), pollInterval: SQLITE_POLL_MS }),
      cleanup: async (spec) => {
        if (spec.kind === "sqlite") rmSync(join(spec.path, ".."), { recursive: true, force: true })
      },
    },
  ]
  const outcomes: Outcome[] = []
  for (const target of targets) {
    console.log(`propagation: ${target.label}...`)
    outcomes.push(await measure(target))
  }
  return { title: "Revocation propagation between two processes", body: report(outcomes) }
}

async function measure(target: Target): Promise<Outcome> {
  const spec = target.spec()
  const warnings: string[] = []
  let auth: Auth | undefined
  let child: Enforcer | undefined
  try {
    const secret = randomBytes(32)
    auth = createAuth({
      issuer: ISSUER,
      audience: AUDIENCE,
      store: await makeStore(spec, (message) => warnings.push(message)),
      keys: [{ alg: "HS256", secret }],
      accessTtl: ACCESS_TTL,
      purgeInterval: false,
    })
    await auth.ready()
    const tokens: Record<string, string[]> = {}
    for (let round = 1; round <= ROUNDS; round++) {
      tokens[`paced ${round}`] = await issue(auth, REVOCATIONS)
      tokens[`burst ${round}`] = await issue(auth, REVOCATIONS)
    }
    child = new Enforcer()
    await child.request({ type: "setup", store: spec, secret: secret.toString("base64"), tokens }, "ready")
    const clockRoundTripMs = await checkClock(child)
    const paced: PhaseResult[] = []
    const burst: PhaseResult[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      paced.push(await phase(auth, child, `paced ${round}`, tokens, INTERVAL_MS))
      burst.push(await phase(auth, child, `burst ${round}`, tokens, 0))
    }
    return { target, ok: true, paced, burst, clockRoundTripMs, warnings }
  } catch (error) {
    return { target, ok: false, error: error instanceof Error ? error.message : String(error) }
  } finally {
    await child?.close()
    await auth?.close().catch(() => undefined)
    await target.cleanup(spec).catch((error: unknown) => console.error(`propagation: cleanup of ${target.label} failed`, error))
  }
}

async function issue(auth: Auth, count: number): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 0; i < count; i += ISSUE_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(ISSUE_CONCURRENCY, count - i) }, (_, j) => auth.issue(`user-${i + j}`))
    for (const pair of await Promise.all(batch)) tokens.push(pair.accessToken)
  }
  return tokens
}

/**
 * Both processes read CLOCK_MONOTONIC: B's reading must fall between A's send and A's receipt of the reply.
 * Resolves the shortest round trip, the bound on any disagreement the IPC could hide.
 */
async function checkClock(child: Enforcer): Promise<number> {
  let shortest = Infinity
  for (let i = 0; i < CLOCK_PINGS; i++) {
    const sent = now()
    const reply = await child.request({ type: "clock" }, "clock")
    const received = now()
    assert.ok(sent <= reply.at && reply.at <= received, "process B's clock disagrees with A's")
    shortest = Math.min(shortest, received - sent)
  }
  return shortest
}

/** Revokes every token, one every `intervalMs` (open loop: none waits for the previous), or all at once for 0. */
async function phase(auth: Auth, child: Enforcer, name: string, phases: Record<string, string[]>, intervalMs: number): Promise<PhaseResult> {
  const tokens = phases[name] as string[]
  const published: number[] = []
  const acked: number[] = []
  const writes: Promise<void>[] = []
  const start = now() + 10
  for (const [index, token] of tokens.entries()) {
    if (intervalMs > 0) {
      const wait = start + index * intervalMs - now()
      if (wait >= 1) await sleep(wait)
    }
    published[index] = now()
    writes.push(
      auth.revoke(token).then((revocation) => {
        acked[index] = now()
        assert.equal(revocation?.kind, "token")
      }),
    )
  }
  await Promise.all(writes)
  const times = await child.request({ type: "collect", phase: name, timeoutMs: COLLECT_TIMEOUT_MS }, "times")
  return { published, acked, event: times.event, enforced: times.enforced, accepted: times.accepted, failed: times.failed }
}

/** Process B, spoken to one request at a time. */
class Enforcer {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #waiting: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | null = null

  constructor() {
    this.#child = fork(ENFORCER, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] })
    this.#child.on("message", (reply: Reply) => {
      const waiting = this.#waiting
      this.#waiting = null
      if (reply.type === "error") waiting?.reject(new Error(`process B: ${reply.message}`))
      else waiting?.resolve(reply)
    })
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#waiting?.reject(new Error(`process B exited with ${signal ?? `code ${code}`}`))
        this.#waiting = null
        resolve()
      })
    })
  }

  request<T extends Reply["type"]>(command: Command, expected: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#waiting = {
        resolve: (reply) => (reply.type === expected ? resolve(reply as Extract<Reply, { type: T }>) : reject(new Error(`process B answered ${reply.type}`))),
        reject,
      }
      this.#child.send(command)
    })
  }

  /** Asks B to close its auth and leave; kills it if it has not within 10 s. */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.connected) this.#child.send({ type: "close" } satisfies Command)
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000)
    await this.#exited
    clearTimeout(timer)
  }
}

async function dropSchema(spec: StoreSpec): Promise<void> {
  if (spec.kind !== "postgres") return
  const client = new pg.Client({ connectionString: spec.url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${spec.schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

async function deleteRedisKeys(spec: StoreSpec): Promise<void> {
  if (spec.kind !== "redis") return
  const client = createClient({ url: spec.url })
  client.on("error", () => undefined)
  await client.connect()
  try {
    for await (const keys of client.scanIterator({ MATCH: `{${spec.prefix}}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys)
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

/** Median, lowest and highest over rounds. */
function spread(values: readonly number[]): string {
  if (values.length === 1) return ms(values[0] as number)
  return `${ms(median(values))} (${ms(Math.min(...values))} to ${ms(Math.max(...values))})`
}

/** From `from` in A to `to` in B, per revocation that reached B, sorted. */
function latencies(result: PhaseResult, from: "published" | "acked", to: "acked" | "event" | "enforced"): number[] {
  const values: number[] = []
  for (const [index, at] of result[to].entries()) if (at !== null) values.push(at - (result[from][index] as number))
  return values.sort((a, b) => a - b)
}

function enforcedCount(results: readonly PhaseResult[]): number {
  return results.reduce((sum, result) => sum + result.enforced.filter((at) => at !== null).length, 0)
}

/** The latest of these times, counted from the phase's first publication. */
function last(result: PhaseResult, times: readonly (number | null)[]): number {
  const present = times.filter((at): at is number => at !== null)
  return present.length === times.length ? Math.max(...present) - (result.published[0] as number) : Infinity
}

function verdict(measured: number, target: number | null): string {
  if (target === null) return "no target (polling)"
  return measured < target ? "met" : "**not met**"
}

function report(outcomes: readonly Outcome[]): string {
  const pacedRows: string[][] = []
  const burstRows: string[][] = []
  const verdicts: string[][] = []
  const notes: string[] = []
  const total = ROUNDS * REVOCATIONS
  for (const outcome of outcomes) {
    const { label } = outcome.target
    if (!outcome.ok) {
      notes.push(`- ${label}: **not measured**: ${outcome.error}`)
      continue
    }
    const { paced, burst, target } = outcome
    for (const result of [...paced, ...burst]) {
      if (result.accepted > 0 || result.failed.length > 0) {
        notes.push(`- ${label}: **${result.accepted} verifies still accepted a token after its revocation event; ${result.failed.length} failed otherwise (${[...new Set(result.failed)].join(", ")}).**`)
      }
    }

    const rounds = paced.map((result) => ({
      all: latencies(result, "published", "enforced"),
      write: latencies(result, "published", "acked"),
      afterAck: latencies(result, "acked", "enforced"),
      complete: result.enforced.every((at) => at !== null),
    }))
    const p99s = rounds.map((round) => (round.complete ? percentile(round.all, 99) : Infinity))
    const writeP99 = median(rounds.map((round) => percentile(round.write, 99)))
    const afterAckP99 = median(rounds.map((round) => percentile(round.afterAck, 99)))
    pacedRows.push([
      label,
      `${enforcedCount(paced)} / ${total}`,
      ms(median(rounds.map((round) => percentile(round.all, 50)))),
      spread(p99s),
      ms(Math.max(...rounds.map((round) => (round.complete ? (round.all.at(-1) as number) : Infinity)))),
      `${ms(median(rounds.map((round) => percentile(round.write, 50))))} / ${ms(writeP99)}`,
      `${ms(median(rounds.map((round) => percentile(round.afterAck, 50))))} / ${ms(afterAckP99)}`,
    ])

    const allEnforced = burst.map((result) => last(result, result.enforced))
    const lastAck = median(burst.map((result) => last(result, result.acked)))
    burstRows.push([
      label,
      `${enforcedCount(burst)} / ${total}`,
      spread(allEnforced),
      ms(lastAck),
      ms(median(burst.map((result) => last(result, result.event)))),
      `${ms(median(burst.map((result) => percentile(latencies(result, "published", "enforced"), 50))))} / ${ms(median(burst.map((result) => percentile(latencies(result, "published", "enforced"), 99))))}`,
    ])

    const p99 = median(p99s)
    const burstAll = median(allEnforced)
    verdicts.push([`${label}: paced, p99`, target.p99TargetMs === null ? "-" : `< ${target.p99TargetMs} ms`, ms(p99), verdict(p99, target.p99TargetMs)])
    verdicts.push([`${label}: burst, all enforced`, target.burstTargetMs === null ? "-" : `< ${target.burstTargetMs} ms`, ms(burstAll), verdict(burstAll, target.burstTargetMs)])
    if (target.p99TargetMs !== null && p99 >= target.p99TargetMs) {
      const alone = writeP99 >= target.p99TargetMs ? `, over the ${target.p99TargetMs} ms target by itself` : ""
      notes.push(`- ${label}, paced: the store write alone (A: call to ack) has a p99 of ${ms(writeP99)}${alone}; delivery after the ack has a p99 of ${ms(afterAckP99)}.`)
    }
    if (target.burstTargetMs !== null && burstAll >= target.burstTargetMs && lastAck >= target.burstTargetMs) {
      notes.push(`- ${label}, burst: A's ${formatOps(REVOCATIONS)} writes alone take ${ms(lastAck)} to be acknowledged, over the ${target.burstTargetMs} ms target by themselves.`)
    }
    notes.push(`- ${label}: clock check passed (B's reading always within A's ping window; shortest IPC round trip ${ms(outcome.clockRoundTripMs)}).`)
    for (const warning of new Set(outcome.warnings)) notes.push(`- ${label}: the store warned at open: ${warning}`)
  }
  const withTarget = verdicts.filter((row) => row[1] !== "-")
  const met = withTarget.filter((row) => row[3] === "met").length
  return [
    `Two OS processes on one machine, over loopback. Process A (the bench) issues access tokens (HS256, a static key shared by both), then revokes them with \`auth.revoke(token)\`. Process B (bench/fixtures/enforcer.ts), its own \`createAuth\` on the same store, first verifies every token (all accepted), then on each \`revoked\` event verifies that token again and records the moment verify rejects it with \`token_revoked\`: that is "enforced". Latency runs from A calling \`revoke\` ("published"; the store write included) to enforced in B. Both processes read CLOCK_MONOTONIC (\`process.hrtime\`), one clock for the whole machine, checked by IPC pings; B keeps its times and sends them over IPC after each phase, never during one.`,
    "",
    `- Paced: ${formatOps(REVOCATIONS)} revocations, one every ${INTERVAL_MS} ms on A's timer, open loop (none waits for the previous one to be acknowledged).`,
    `- Burst: ${formatOps(REVOCATIONS)} revocations started at once (one synchronous loop of \`revoke\` calls); the time from the first call until B enforces the last.`,
    `- Each store runs ${ROUNDS} rounds of both, alternating; figures are the median round (range over rounds in brackets), "max" the worst single revocation of any round. Verdicts go by the median round.`,
    "- Stores at their defaults (heartbeat 1 s); PostgreSQL in a fresh schema of database `test`, dropped afterwards; Redis under a fresh prefix, deleted afterwards; SQLite in a temporary file opened by both processes.",
    "",
    "### Paced",
    "",
    table(["store", "enforced", "p50", "p99", "max", "write p50 / p99 (A: call to ack)", "ack to enforced p50 / p99"], pacedRows),
    "",
    "### Burst",
    "",
    table(["store", "enforced", "all enforced after", "A's last ack after", "B's last event after", "each: p50 / p99"], burstRows),
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured (median round)", "verdict"], verdicts),
    "",
    withTarget.length === 0 ? "No target could be measured in this run." : met === withTarget.length ? "All targets are met in this run." : `${met} of ${withTarget.length} targets are met in this run.`,
    "",
    "Notes:",
    "",
    ...notes,
    `- "ack to enforced" can be negative: B may be notified before A's own write acknowledgement arrives. "B's last event" is when B's replica held the last revocation; "enforced" adds B's verify of the token.`,
    "- The machine has 2 cores shared by A, B, the database servers and other work (see the load average above): tails move from run to run.",
    "- PostgreSQL: a revocation commits without waiting for its WAL flush, so B hears of it at once; A's call resolves once a second transaction has waited for the flush (see packages/revocable/src/stores/postgres/revocations.ts): \"write\" includes that wait, \"enforced\" does not.",
    `- SQLite has no change feed: each process reads the change log every \`pollInterval\` (${SQLITE_POLL_MS} ms here), so its latency is expected between zero and one poll interval, about half of one at the median.`,
  ].join("\n")
}
