// A Stryker reporter that writes mutation/RESULTS.md: the score per file of a full `npm run mutate`, with the
// command, date, commit and machine that produced it.
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import os from "node:os"

const OUTPUT = "mutation/RESULTS.md"
const DETECTED = ["Killed", "Timeout"]
const UNDETECTED = ["Survived", "NoCoverage"]
const COLUMNS = ["Killed", "Timeout", "Survived", "NoCoverage", "Ignored", "CompileError", "RuntimeError"]

class MarkdownReporter {
  static inject = ["options"]
  #started = Date.now()
  // Read when the run starts, as the sandbox is copied: edits made during the run are not in it.
  #commit = commit()

  constructor(options) {
    this.options = options
  }

  onMutationTestReportReady(report) {
    const rows = []
    const survivors = []
    const total = Object.fromEntries(COLUMNS.map((status) => [status, 0]))
    for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
      const counts = Object.fromEntries(COLUMNS.map((status) => [status, 0]))
      for (const mutant of mutants) {
        counts[mutant.status]++
        total[mutant.status]++
        if (UNDETECTED.includes(mutant.status)) {
          const replacement = (mutant.replacement ?? "").replace(/\s+/g, " ").slice(0, 60)
          survivors.push(`| ${file}:${mutant.location.start.line} | ${mutant.mutatorName} | \`${replacement.replace(/\|/g, "\\|")}\` | ${mutant.status} |`)
        }
      }
      rows.push(row(file, counts))
    }
    const minutes = ((Date.now() - this.#started) / 60_000).toFixed(1)
    const lines = [
      "# Mutation testing of the core",
      "",
      "Written by `npm run mutate` (mutation/reporter.mjs); do not edit by hand. Equivalent mutants, disabled in the",
      "source and counted as ignored here, are listed with their reasons in mutation/MUTATION.md.",
      "",
      `Command: \`npm run mutate\` (\`stryker run mutation/stryker.config.mjs\`, ${minutes} min), ${stamp()}, commit ${this.#commit}.`,
      `Machine: Node ${process.version}, ${process.platform}/${process.arch}, ${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${os.availableParallelism()} cores, Stryker concurrency ${this.options.concurrency}.`,
      "",
      "Score: killed and timed-out mutants over all but ignored and erroring ones.",
      "",
      `| file | score | ${COLUMNS.map(label).join(" | ")} |`,
      `| --- | --- | ${COLUMNS.map(() => "---").join(" | ")} |`,
      ...rows,
      row("**all**", total),
      "",
    ]
    if (survivors.length > 0) lines.push("## Surviving mutants", "", "| where | mutator | replacement | status |", "| --- | --- | --- | --- |", ...survivors, "")
    writeFileSync(OUTPUT, lines.join("\n"))
  }
}

function row(name, counts) {
  const detected = DETECTED.reduce((sum, status) => sum + counts[status], 0)
  const valid = detected + UNDETECTED.reduce((sum, status) => sum + counts[status], 0)
  const score = valid === 0 ? "n/a" : `${((100 * detected) / valid).toFixed(2)} %`
  return `| ${name} | ${score} | ${COLUMNS.map((status) => counts[status]).join(" | ")} |`
}

function label(status) {
  return { NoCoverage: "no coverage", Ignored: "ignored (equivalent)", CompileError: "compile error", RuntimeError: "runtime error", Timeout: "timed out" }[status] ?? status.toLowerCase()
}

function stamp() {
  return `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`
}

function commit() {
  const git = (...args) => execFileSync("git", args, { encoding: "utf8" }).trim()
  try {
    const dirty = git("status", "--porcelain", "--", "packages/revocable/src/core", "packages/revocable/test/core", "mutation") !== ""
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " with uncommitted changes to the core, its tests or mutation/" : ""}`
  } catch {
    return "unknown"
  }
}

export const strykerPlugins = [{ kind: "Reporter", name: "markdown", injectableClass: MarkdownReporter }]
