// Durations in options: "30s", "15m", "12h", "30d", or a number of seconds.

export type Duration = string | number

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/

/** Milliseconds, or a TypeError naming the option when the value is not a finite, non-negative duration. */
export function parseDuration(value: Duration, option: string): number {
  let ms: number
  if (typeof value === "number") {
    ms = value * 1000
  } else if (typeof value === "string") {
    const match = PATTERN.exec(value.trim())
    ms = match ? Number(match[1]) * (UNITS[match[2] as string] as number) : Number.NaN
  } else {
    ms = Number.NaN
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw new TypeError(`Option ${option} must be a non-negative duration such as "30s", "15m", "30d" or a number of seconds.`)
  }
  return Math.round(ms)
}
