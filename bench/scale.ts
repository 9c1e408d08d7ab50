/**
 * A synthetic site replayed over a simulated 90 days on each store, with injectable clocks: logouts, log-out-
 * everywhere and suspensions at a steady rate, the store purged every 10 simulated minutes. Reports the replica
 * a running instance holds, the snapshot a new instance loads (rows and load time), and the store's revocation
 * rows after purge, at days 1, 30, 60 and 90; then how each grows with the logout rate (memory store).
 *
 * @example
 * npm run bench -- scale
 * SCALE_RATE=0.002 SCALE_DAYS=30 npm run bench -- scale   # a smaller run
 */
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { createAuth, type Auth, type AuthOptions, type Revocation, type Store } from "revocable"
import { Replica } from "../packages/revocable/src/core/replica.ts"
import { countRows, openStore, type Kind } from "./fixtures/scale-stores.ts"
import { collectGarbage, table, type Section } from "./lib.ts"

export const name = "scale"

const SECOND = 1000
const MINUTE = 60 * SECOND
const DAY = 24 * 60 * MINUTE
const ACCESS_TTL_MS = 15 * MINUTE
const LEEWAY_MS = 30 * SECOND
const DAYS = Number(process.env.SCALE_DAYS ?? 90)
/** Revocations per simulated second on every store; the memory store also runs at multiples of it. */
const RATE = Number(process.env.SCALE_RATE ?? 0.005)
const RATE_MULTIPLES = [1, 2, 4]
const USERS = 10_000
/** Shares of the revocations: logouts, log-out-everywhere, suspensions (a subject revocation by an admin). */
const LOGOUT_EVERYWHERE = 0.08
const SUSPENSION = 0.02
const STORE_PURGE_MS = 10 * MINUTE
/** A running instance prunes its replica at each purge: the default interval, and a 1-minute one. */
const PRUNE_INTERVALS = [10 * MINUTE, MINUTE]
const CHECKPOINTS = [1, 30, 60, 90].filter((day) => day <= DAYS)
const TARGET_RATIO = 1.2
/** Live revocations in the snapshot whose load time is measured on each store (rates this bench replays give a handful). */
const LOAD_ROWS = 10_000
/** Entries of the replica whose memory is measured: enough that the tables' minimum size does not count. */
const REPLICA_SAMPLE = 500_000

interface Checkpoint {
  day: number
  /** A running instance's replica entries over the last simulated day, by prune interval: the peak and the mean. */
  running: Map<number, { peak: number; mean: number }>
  snapshotRows: number
  snapshotMs: number
  storeRows: number
  storeBytes: number | null
}

interface Run {
  store: string
  rate: number
  revocations: number
  seconds: number
  /** Time spent in the revocation calls alone, one at a time. */
  writeSeconds: number
  /** Mean size of a revocation as JSON: about what the feed carries per change (PostgreSQL's NOTIFY, SQLite's log). */
  eventBytes: number
  checkpoints: Checkpoint[]
  /** Loading a snapshot of LOAD_ROWS live revocations, beside the replay's rows the store keeps for itself alone; best of three. */
  loadMs: number | null
}

/** The steady state the issue asks for: revocations/s x (accessTtl + leeway). */
function target(rate: number): number {
  return rate * ((ACCESS_TTL_MS + LEEWAY_MS) / SECOND)
}

export async function run(): Promise<Section> {
  const key: SigningKey = { kid: "k1", alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey }
  const runs: Run[] = []
  for (const kind of ["memory", "sqlite", "postgres", "redis"] as const) runs.push(await replay(kind, RATE, key))
  const byRate: Run[] = []
  for (const multiple of RATE_MULTIPLES) byRate.push(multiple === 1 ? (runs[0] as Run) : await replay("memory", RATE * multiple, key))
  const perEntry = replicaBytesPerEntry(REPLICA_SAMPLE)
  return { title: `Scale: a site replayed over ${DAYS} simulated days`, body: report(runs, byRate, perEntry) }
}

type SigningKey = NonNullable<AuthOptions["keys"]>[number]

async function replay(kind: Kind, rate: number, key: SigningKey): Promise<Run> {
  const started = performance.now()
  const { store, bytes, dispose } = await openStore(kind)
  // Simulated time starts now: Redis expires keys by its own clock, so simulated expiries must lie ahead of it.
  let now = Math.ceil(Date.now() / DAY) * DAY
  const clock = () => now
  const options = { issuer: "https://site.test", audience: "api", keys: [key], clock, purgeInterval: false as const }
  const auth = createAuth({ ...options, store, accessTtl: "15m", refreshTtl: "30d", sessionTtl: "90d", leeway: "30s" })
  await auth.ready()
  const replicas = PRUNE_INTERVALS.map((interval) => ({ interval, replica: new Replica(), samples: [] as number[] }))
  const checkpoints: Checkpoint[] = []
  const start = now
  const stepMs = SECOND / rate
  let revocations = 0
  let writeMs = 0
  let eventBytes = 0
  let nextPurge = start + STORE_PURGE_MS
  let nextCheckpoint = 0
  for (let at = start + stepMs; at <= start + DAYS * DAY; at += stepMs) {
    while (nextPurge <= at) {
      now = nextPurge
      await store.purge(now)
      nextPurge += STORE_PURGE_MS
    }
    now = Math.round(at)
    for (const each of replicas) {
      // Each running instance samples its replica just before its purge: the peak of its saw-tooth.
      if (Math.floor((now - start) / each.interval) !== Math.floor((now - stepMs - start) / each.interval)) {
        each.samples.push(each.replica.size)
        each.replica.prune(now)
      }
    }
    const writeStarted = performance.now()
    const revocation = await revokeOne(auth, revocations++)
    writeMs += performance.now() - writeStarted
    eventBytes += Buffer.byteLength(JSON.stringify(revocation))
    for (const each of replicas) each.replica.add(revocation)
    const day = CHECKPOINTS[nextCheckpoint]
    if (day !== undefined && now >= start + day * DAY) {
      checkpoints.push(await measure(day, store, now, replicas, bytes))
      for (const each of replicas) each.samples = []
      nextCheckpoint++
    }
  }
  const loadMs = rate === RATE ? await measureLoad(store, now) : null
  await auth.close()
  await dispose()
  const seconds = (performance.now() - started) / 1000
  return { store: kind, rate, revocations, seconds, writeSeconds: writeMs / 1000, eventBytes: eventBytes / revocations, checkpoints, loadMs }
}

/** One revocation of the synthetic site: mostly a logout of one session, else a subject's cut-off. */
function revokeOne(auth: Auth, index: number): Promise<Revocation> {
  const share = (index % 100) / 100
  const user = `user-${(index * 7919) % USERS}`
  if (share < SUSPENSION) return auth.revokeSubject(user, { reason: "suspended", actor: "admin" })
  if (share < SUSPENSION + LOGOUT_EVERYWHERE) return auth.revokeSubject(user, { reason: "logout everywhere", actor: user })
  return auth.revokeSession(randomBytes(16).toString("base64url"), { reason: "logout", actor: user })
}

async function measure(
  day: number,
  store: Store,
  now: number,
  replicas: Array<{ interval: number; replica: Replica; samples: number[] }>,
  bytes: () => Promise<number | null>,
): Promise<Checkpoint> {
  const running = new Map(
    replicas.map(({ interval, samples }) => {
      const peak = Math.max(0, ...samples)
      const mean = samples.reduce((sum, size) => sum + size, 0) / Math.max(1, samples.length)
      return [interval, { peak, mean }] as const
    }),
  )
  // What a new instance loads: the snapshot, read and put in a replica, best of three.
  let snapshotMs = Infinity
  let rows: Revocation[] = []
  for (let i = 0; i < 3; i++) {
    const begin = performance.now()
    rows = await store.snapshot(now)
    new Replica().addAll(rows)
    snapshotMs = Math.min(snapshotMs, performance.now() - begin)
  }
  return { day, running, snapshotRows: rows.length, snapshotMs, storeRows: await countRows(store, now), storeBytes: await bytes() }
}

/** A snapshot of LOAD_ROWS live session revocations written straight to the store, 100 at a time: read and loaded, best of three. */
async function measureLoad(store: Store, now: number): Promise<number> {
  for (let written = 0; written < LOAD_ROWS; written += 100) {
    const batch = Array.from({ length: 100 }, () => {
      const id = randomBytes(16).toString("base64url")
      const at = { createdAt: now, expiresAt: now + 90 * DAY, replicaUntil: now + DAY }
      return store.revoke({ kind: "session", id, subject: null, reason: "logout", actor: null, ...at })
    })
    await Promise.all(batch)
  }
  let best = Infinity
  for (let i = 0; i < 3; i++) {
    const begin = performance.now()
    const rows = await store.snapshot(now)
    new Replica().addAll(rows)
    best = Math.min(best, performance.now() - begin)
  }
  return best
}

/** Bytes a replica takes per entry of the site's mix (sessions and subject cut-offs), loaded with `entries` of them. */
function replicaBytesPerEntry(entries: number): number {
  const now = Date.now()
  const rows = Array.from({ length: entries }, (_, index): Revocation => {
    const subject = (index % 100) / 100 < SUSPENSION + LOGOUT_EVERYWHERE
    const id = subject ? `user-${index}` : randomBytes(16).toString("base64url")
    return { kind: subject ? "subject" : "session", id, subject: null, reason: null, actor: null, createdAt: now, expiresAt: now + DAY, cutoff: 1 }
  })
  const before = retained()
  const replica = new Replica()
  replica.addAll(rows)
  const bytes = retained() - before
  keep = replica
  return bytes / entries
}

/** Keeps the measured replica alive past the second reading. */
let keep: unknown

/** Bytes the JavaScript heap and ArrayBuffers hold after full collections (the IdSet tables are ArrayBuffers). */
function retained(): number {
  collectGarbage()
  collectGarbage()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

function report(runs: readonly Run[], byRate: readonly Run[], perEntry: number): string {
  const fmt = (value: number, digits = 0) => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }).replaceAll(",", " ")
  const kb = (bytes: number | null) => (bytes === null ? "-" : `${fmt(bytes / 1000, 1)} kB`)
  const peak = (point: Checkpoint, interval: number) => point.running.get(interval)?.peak ?? 0
  const perStore = runs.flatMap((run) =>
    run.checkpoints.map((point) => [
      run.store,
      String(point.day),
      fmt(peak(point, 10 * MINUTE)),
      fmt(peak(point, MINUTE)),
      fmt(point.snapshotRows),
      `${fmt(point.snapshotRows / target(run.rate), 2)}x`,
      `${fmt(point.snapshotMs, 1)} ms`,
      fmt(point.storeRows),
      kb(point.storeBytes),
    ]),
  )
  const growth = byRate.map((run) => {
    const last = run.checkpoints.at(-1) as Checkpoint
    return [
      fmt(run.rate, 3),
      fmt(run.revocations),
      fmt(target(run.rate), 1),
      fmt(last.snapshotRows),
      `${fmt(last.snapshotRows / target(run.rate), 2)}x`,
      `${fmt(peak(last, MINUTE) / target(run.rate), 2)}x`,
      `${fmt(peak(last, 10 * MINUTE) / target(run.rate), 2)}x`,
      fmt(last.storeRows),
      fmt(last.storeRows / run.rate / DAY * SECOND, 2),
    ]
  })
  const worst = (pick: (run: Run, point: Checkpoint) => number) => Math.max(...[...runs, ...byRate].flatMap((run) => run.checkpoints.map((point) => pick(run, point) / target(run.rate))))
  const snapshotWorst = worst((_, point) => point.snapshotRows)
  const oneMinuteWorst = worst((_, point) => peak(point, MINUTE))
  const tenMinuteWorst = worst((_, point) => peak(point, 10 * MINUTE))
  const verdict = (ratio: number) => (ratio <= TARGET_RATIO ? "pass" : "fail")
  return [
    `A site of ${fmt(USERS)} users revokes ${fmt(RATE, 3)} times a simulated second (${fmt(RATE * DAY / SECOND)} a day): ${fmt((1 - LOGOUT_EVERYWHERE - SUSPENSION) * 100)} % logouts ` +
      `(one session each), ${fmt(LOGOUT_EVERYWHERE * 100)} % log-out-everywhere and ${fmt(SUSPENSION * 100)} % suspensions (subject cut-offs), evenly spaced, ` +
      `over ${DAYS} days: accessTtl 15m, leeway 30s, sessionTtl 90d, refreshTtl 30d. Every call goes through createAuth with an injectable clock; ` +
      "the store is purged every 10 simulated minutes. A running instance's replica is the real Replica fed with each revocation as committed " +
      "(what the feed delivers) and pruned as an instance prunes it: every minute on its own timer (the default), and, for comparison, only with " +
      "a 10-minute store purge; its peak is sampled just before each prune over the last simulated day. The snapshot is what a new instance loads (`store.snapshot(now)` into a Replica, best of three). " +
      "Store rows are the revocations `listRevocations` returns after the purge (sessions " +
      "are not created: logouts revoke by session id, which the store keeps for the longest session life, an upper bound). Store bytes: " +
      "SQLite's file and WAL, PostgreSQL's `pg_total_relation_size` of the revocation table (indexes included, no VACUUM), Redis's " +
      "MEMORY USAGE of every key of the store (revocations, their indexes, the feed's stream).",
    "",
    `Replica memory: ${fmt(perEntry, 1)} B per entry of this mix (${fmt(REPLICA_SAMPLE)} entries loaded into a Replica; heap and ArrayBuffer growth after full GCs; ` +
      "session entries are 12-byte slots of a table at most 60 % full, subject cut-offs are Map entries).",
    "",
    `Target: replica entries within ${TARGET_RATIO}x of revocations/s x (accessTtl + leeway) = ${fmt(RATE, 3)} x 930 s = ${fmt(target(RATE), 2)} entries at the base rate.`,
    "",
    "### Per store",
    "",
    table(["store", "day", "running peak (pruned every 10m)", "running peak (pruned every 1m, default)", "snapshot rows", "snapshot / target", "snapshot load", "store rows after purge", "store bytes"], perStore),
    "",
    "### Growth with the revocation rate (memory store, last day)",
    "",
    table(["revocations/s", "revocations replayed", "target entries", "snapshot rows", "snapshot / target", "peak (1m prune) / target", "peak (10m prune) / target", "store rows", "store rows / (rate x 1 day)"], growth),
    "",
    "### Targets",
    "",
    table(
      ["target", "wanted", "measured (worst run and day)", "verdict"],
      [
        ["snapshot rows (a replica right after its purge)", `<= ${TARGET_RATIO}x`, `${fmt(snapshotWorst, 2)}x`, verdict(snapshotWorst)],
        ["running peak, replica pruned every minute (the default)", `<= ${TARGET_RATIO}x`, `${fmt(oneMinuteWorst, 2)}x`, verdict(oneMinuteWorst)],
        ["running peak were it pruned only every 10 minutes (for comparison)", "-", `${fmt(tenMinuteWorst, 2)}x`, "-"],
      ],
    ),
    "",
    "### Writes and feed",
    "",
    table(
      ["store", "revocations", "run time", "revocation calls, one at a time", "revocations/s, one caller", "mean revocation as JSON", `rows per revocation/s after ${DAYS} days`, "store bytes per row", `snapshot load, ${fmt(LOAD_ROWS)} live rows`],
      runs.map((run) => {
        const last = run.checkpoints.at(-1) as Checkpoint
        return [
          run.store,
          fmt(run.revocations),
          `${fmt(run.seconds)} s`,
          `${fmt(run.writeSeconds)} s`,
          fmt(run.revocations / run.writeSeconds),
          `${fmt(run.eventBytes)} B`,
          fmt(last.storeRows / run.rate),
          last.storeBytes === null ? "-" : `${fmt(last.storeBytes / last.storeRows)} B`,
          run.loadMs === null ? "-" : `${fmt(run.loadMs, 1)} ms`,
        ]
      }),
    ),
  ].join("\n")
}
