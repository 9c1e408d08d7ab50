/**
 * Shared helpers for the benchmark suites: the suite contract, interleaved throughput rounds, and Markdown.
 *
 * A suite is a module in bench/ that exports `name` and `run()`; `npm run bench` finds it by itself.
 *
 * @example
 * // bench/example.ts
 * import { compare, formatRatio, ratio, type Section } from "./lib.ts"
 * export const name = "example"
 * export async function run(): Promise<Section> {
 *   const result = await compare([{ name: "a", op: () => a() }, { name: "b", op: () => b() }], { rounds: 7 })
 *   return { title: "A against B", body: `a runs at ${formatRatio(ratio(result, "a", "b").median)} of b` }
 * }
 */
import { availableParallelism, cpus, loadavg } from "node:os"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/** One part of bench/RESULTS.md. The runner adds the heading's anchor, the command and the environment. */
export interface Section {
  /** The heading. */
  title: string
  /** Markdown: tables, then what they show. */
  body: string
}

/**
 * What a bench/*.ts module exports to be run by `npm run bench`. The runner imports every module to learn its
 * name, so importing one must do nothing else; `run()` does the work, in a process of its own.
 */
export interface Suite {
  /** Lowercase, unique: `npm run bench -- <name>` runs this suite alone. */
  name: string
  run(): Promise<Section>
}

export interface Contender {
  name: string
  /** One operation. Its result is kept alive so that it cannot be optimised away. */
  op: () => unknown
  /** The operation returns a promise, awaited before the next one starts. */
  async?: boolean
}

export interface CompareOptions {
  /** Untimed running of each contender before the first round, in ms. Default 1000. */
  warmupMs?: number
  /** Rounds, each running every contender once in turn. Default 25. */
  rounds?: number
  /** Time per contender per round, in ms. Default 120: short slots, many rounds, so a burst of noise spoils few ratios. */
  roundMs?: number
}

/** Operations per second of each contender, one sample per round. */
export interface Comparison {
  names: string[]
  samples: Map<string, number[]>
  options: Required<CompareOptions>
}

setFlagsFromString("--expose-gc")
/** A full, synchronous garbage collection (the flag is set at run time, so the suites need no node flags). */
export const collectGarbage = runInNewContext("gc") as () => void

/** Keeps results reachable so that the operations are not dead code. */
let sink: unknown

/**
 * Runs the contenders in interleaved rounds (A B C, A B C, ...) so that a noisy neighbour on a shared machine
 * slows every contender of a round alike; a full collection before each slot stops one contender's garbage
 * from being collected on another's time.
 */
export async function compare(contenders: readonly Contender[], options: CompareOptions = {}): Promise<Comparison> {
  const settings = { warmupMs: 1000, rounds: 25, roundMs: 120, ...options }
  const samples = new Map<string, number[]>(contenders.map((contender) => [contender.name, []]))
  for (const contender of contenders) await throughput(contender, settings.warmupMs)
  for (let round = 0; round < settings.rounds; round++) {
    for (const contender of contenders) {
      collectGarbage()
      samples.get(contender.name)?.push(await throughput(contender, settings.roundMs))
    }
  }
  return { names: contenders.map((contender) => contender.name), samples, options: settings }
}

/** Operations per second over about `ms` milliseconds; the clock is read once per batch of 64. */
export async function throughput(contender: Contender, ms: number): Promise<number> {
  const { op } = contender
  let ops = 0
  const start = performance.now()
  const end = start + ms
  let now = start
  if (contender.async) {
    while (now < end) {
      for (let i = 0; i < 64; i++) sink = await op()
      ops += 64
      now = performance.now()
    }
  } else {
    while (now < end) {
      for (let i = 0; i < 64; i++) sink = op()
      ops += 64
      now = performance.now()
    }
  }
  return (ops * 1000) / (now - start)
}

/** The q-quantile (0 to 1) of the values, interpolating between neighbours. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("quantile of nothing")
  const sorted = [...values].sort((a, b) => a - b)
  const at = (sorted.length - 1) * q
  const below = sorted[Math.floor(at)] as number
  const above = sorted[Math.ceil(at)] as number
  return below + (above - below) * (at - Math.floor(at))
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5)
}

export interface Ratio {
  median: number
  /** First and third quartiles: the middle half of the rounds lies between them. */
  low: number
  high: number
  /** The lowest and highest round: one burst of noise moves them, so prefer the quartiles. */
  min: number
  max: number
}

/** Per-round ratios of `a` to `b`, each from one round where both ran side by side: median and quartiles. */
export function ratio(result: Comparison, a: string, b: string): Ratio {
  const as = samplesOf(result, a)
  const bs = samplesOf(result, b)
  const ratios = as.map((value, round) => value / (bs[round] as number))
  return {
    median: median(ratios),
    low: quantile(ratios, 0.25),
    high: quantile(ratios, 0.75),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  }
}

/** Whether `value` is at least `target`: "met", "not met", or "uncertain" when the quartiles straddle it. */
export function verdict(value: Ratio, target: number): "met" | "not met" | "uncertain" {
  if (value.low >= target) return "met"
  if (value.high < target) return "not met"
  return "uncertain"
}

export function medianOps(result: Comparison, name: string): number {
  return median(samplesOf(result, name))
}

function samplesOf(result: Comparison, name: string): number[] {
  const values = result.samples.get(name)
  if (!values || values.length === 0) throw new RangeError(`no samples for ${name}`)
  return values
}

/** 1234567 -> "1 234 567". */
export function formatOps(ops: number): string {
  return Math.round(ops).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ")
}

export function formatRatio(value: number): string {
  return `${value.toFixed(2)}x`
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n")
}

/** The machine, as far as it bears on the numbers. */
export function environment(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU"
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  return `Node ${process.version}, ${process.platform}/${process.arch}, ${cpu}, ${availableParallelism()} cores, load average ${load}`
}
