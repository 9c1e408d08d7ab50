/**
 * `npm run bench`: runs every suite in bench/ (a module exporting `name` and `run()`, see lib.ts), each in a
 * fresh process, and rewrites bench/RESULTS.md from their sections. Naming suites runs only those and
 * replaces only their sections.
 *
 * @example
 * npm run bench              # every suite
 * npm run bench -- verify    # one suite; the other sections of RESULTS.md are kept
 */
import { execFileSync, fork } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { pathToFileURL } from "node:url"
import { environment, type Section, type Suite } from "./lib.ts"

const DIR = import.meta.dirname
const RESULTS = join(DIR, "RESULTS.md")
const NOT_SUITES = new Set(["run.ts", "lib.ts"])

/** What a child process sends back for its suite. */
interface Outcome {
  section: Section
  environment: string
  seconds: number
}

if (process.argv[2] === "--child") {
  await child(process.argv[3] as string)
} else {
  await main(process.argv.slice(2))
}

async function main(wanted: string[]): Promise<void> {
  const suites = await discover()
  const unknown = wanted.filter((name) => !suites.some((suite) => suite.name === name))
  if (unknown.length > 0) {
    console.error(`Unknown suite ${unknown.join(", ")}; known: ${suites.map((suite) => suite.name).join(", ")}.`)
    process.exitCode = 2
    return
  }
  const command = wanted.length === 0 ? "npm run bench" : `npm run bench -- ${wanted.join(" ")}`
  const kept = previousSections()
  const sections = new Map<string, string>()
  let failed = false
  for (const suite of suites) {
    if (wanted.length > 0 && !wanted.includes(suite.name)) {
      const previous = kept.get(suite.name)
      if (previous !== undefined) sections.set(suite.name, previous)
      continue
    }
    console.log(`bench: ${suite.name}...`)
    try {
      const outcome = await inChild(suite.file)
      sections.set(suite.name, render(suite.name, outcome, command))
      console.log(`bench: ${suite.name} done in ${outcome.seconds.toFixed(0)} s\n\n${outcome.section.body}\n`)
    } catch (error) {
      failed = true
      console.error(`bench: ${suite.name} failed; its previous section is kept.`, error)
      const previous = kept.get(suite.name)
      if (previous !== undefined) sections.set(suite.name, previous)
    }
  }
  writeFileSync(RESULTS, document([...sections.values()]))
  console.log(`bench: wrote ${RESULTS}`)
  if (failed) process.exitCode = 1
}

interface Found {
  name: string
  file: string
}

/** Every bench/*.ts module that exports a suite, in file-name order. */
async function discover(): Promise<Found[]> {
  const found: Found[] = []
  const names = new Set<string>()
  for (const entry of readdirSync(DIR).sort()) {
    if (!entry.endsWith(".ts") || NOT_SUITES.has(entry)) continue
    const file = join(DIR, entry)
    const suite = asSuite(await import(pathToFileURL(file).href))
    if (suite === null) continue
    if (names.has(suite.name)) throw new Error(`Two suites are named ${suite.name} (the second in ${entry}).`)
    names.add(suite.name)
    found.push({ name: suite.name, file })
  }
  return found
}

function asSuite(module: Record<string, unknown>): Suite | null {
  const { name, run } = module
  if (typeof name !== "string" || typeof run !== "function") return null
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`Suite name ${JSON.stringify(name)} must be lowercase letters, digits and dashes.`)
  return { name, run: run as Suite["run"] }
}

/** A fresh process per suite: no JIT state, heap or open handle of one suite weighs on the next. */
function inChild(file: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let outcome: Outcome | undefined
    const worker = fork(import.meta.filename, ["--child", file], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    worker.on("message", (message) => {
      outcome = message as Outcome
    })
    worker.on("error", reject)
    worker.on("exit", (code, signal) => {
      if (outcome !== undefined && code === 0) resolve(outcome)
      else reject(new Error(`${basename(file)} exited with ${signal ?? `code ${code}`}`))
    })
  })
}

async function child(file: string): Promise<void> {
  const suite = asSuite(await import(pathToFileURL(file).href))
  if (suite === null) throw new Error(`${basename(file)} is not a suite.`)
  const machine = environment()
  const start = performance.now()
  const section = await suite.run()
  const outcome: Outcome = { section, environment: machine, seconds: (performance.now() - start) / 1000 }
  await new Promise<void>((resolve, reject) => process.send?.(outcome, (error: Error | null) => (error ? reject(error) : resolve())))
  // A suite may leave a handle open (a server, a pool): its numbers are in, so the process ends here.
  process.exit(0)
}

function render(name: string, outcome: Outcome, command: string): string {
  const date = new Date().toISOString().slice(0, 16).replace("T", " ")
  return [
    `<!-- suite:${name} -->`,
    `## ${outcome.section.title}`,
    "",
    `Command: \`${command}\` (suite \`${name}\`, ${outcome.seconds.toFixed(0)} s), ${date} UTC, ${revision()}.`,
    `Machine: ${outcome.environment}.`,
    "",
    outcome.section.body.trim(),
    `<!-- /suite:${name} -->`,
  ].join("\n")
}

function document(sections: string[]): string {
  return [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/run.ts); do not edit by hand. Each section names the command that produced it.",
    "",
    ...sections.flatMap((section) => [section, ""]),
  ].join("\n")
}

/** The sections of the current RESULTS.md, by suite name. */
function previousSections(): Map<string, string> {
  const sections = new Map<string, string>()
  if (!existsSync(RESULTS)) return sections
  const text = readFileSync(RESULTS, "utf8")
  for (const match of text.matchAll(/<!-- suite:([a-z0-9-]+) -->[\s\S]*?<!-- \/suite:\1 -->/g)) {
    sections.set(match[1] as string, match[0])
  }
  return sections
}

function revision(): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: DIR, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: DIR, encoding: "utf8" }).trim() !== ""
    return `commit ${commit}${dirty ? " plus uncommitted changes" : ""}`
  } catch {
    return "commit unknown"
  }
}
