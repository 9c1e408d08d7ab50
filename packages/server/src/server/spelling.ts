// REVOCABLE_* variables that no setting reads: most are typos (REVOCABLE_ACESS_TTL), which would otherwise leave
// the default in force without a word. Each becomes a start warning naming the nearest known variable.
import type { StartWarning } from "./datadir.ts"

const PREFIX = "REVOCABLE_"

/**
 * A warning for each `REVOCABLE_*` variable in `env` that is not in `known` and not under one of `families`
 * (prefixes whose variables another reader checks itself), suggesting the nearest known name when one is close.
 */
export function unknownVariables(env: NodeJS.ProcessEnv, known: ReadonlySet<string>, families: readonly string[] = []): StartWarning[] {
  const warnings: StartWarning[] = []
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(PREFIX) || known.has(name) || families.some((family) => name.startsWith(family))) continue
    const suggestion = nearest(name, known)
    warnings.push({
      code: "REVOCABLE_UNKNOWN_SETTING",
      message: `${name} is not a setting of revocable and is ignored${suggestion === null ? " (docs/server.md lists them)" : `: did you mean ${suggestion}?`}`,
    })
  }
  return warnings
}

/** The known name within a few edits of `name` (a third of its length after the prefix), the closest first. */
function nearest(name: string, known: ReadonlySet<string>): string | null {
  const limit = Math.max(1, Math.floor((name.length - PREFIX.length) / 3))
  let best: string | null = null
  let bestDistance = limit + 1
  for (const candidate of [...known].sort()) {
    const distance = editDistance(name.slice(PREFIX.length), candidate.startsWith(PREFIX) ? candidate.slice(PREFIX.length) : candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit (Damerau's transposition). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row[j] = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(at(i, j), at(i - 2, j - 2) + 1)
    }
  }
  return at(a.length, b.length)
}
