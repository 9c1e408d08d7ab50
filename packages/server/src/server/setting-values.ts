// The parsers of setting values: each takes what a variable or the config file holds and returns the setting, or
// throws Invalid with what is wrong, which loadConfig prefixes with the setting's name.

import { parseDuration } from "revocable"

export type Raw = string | number | boolean | string[] | null
/** Parses one value; throws {@link Invalid} with what is wrong, which `loadConfig` prefixes with the setting's name. */
export type Parser<T> = (value: Raw) => T

export class Invalid extends Error {}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

export function fail(message: string): never {
  throw new Invalid(message)
}

export function integer(min: number, max: number): Parser<number> {
  return (value) => {
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value
    if (typeof number !== "number" || !Number.isSafeInteger(number) || number < min || number > max) {
      fail(`must be an integer from ${min} to ${max}.`)
    }
    return number
  }
}

export function text(min: number, max: number): Parser<string> {
  return (value) => {
    if (typeof value !== "string" || value.length < min || value.length > max) fail(`must be a string of ${min} to ${max} characters.`)
    return value
  }
}

export function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (value) => {
    if (!values.includes(value as T)) fail(`must be one of ${values.join(", ")}.`)
    return value as T
  }
}

export function boolean(value: Raw): boolean {
  if (value === true || value === "true" || value === "1") return true
  if (value === false || value === "false" || value === "0") return false
  return fail("must be true or false.")
}

export function duration(minMs: number, maxMs = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    let ms: number
    try {
      ms = parseDuration(typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : (value as string), "duration")
    } catch {
      return fail('must be a duration such as "30s", "15m", "30d" or a number of seconds.')
    }
    if (ms < minMs) fail(`must be at least ${minMs / 1000} seconds.`)
    if (ms > maxMs) fail(`must be at most ${maxMs / 1000} seconds.`)
    return ms
  }
}

/** createAuth takes lifetimes and the purge interval in whole seconds. */
export function seconds(value: Raw): number {
  const ms = duration(1000)(value)
  if (ms % 1000 !== 0) fail("must be a whole number of seconds.")
  return ms
}

// setInterval and setTimeout run a longer delay after 1 ms; createAuth refuses it.
export const MAX_TIMER_MS = 2 ** 31 - 1

export function offOrDuration(value: Raw): number | null {
  if (value === "off" || value === false) return null
  const ms = seconds(value)
  if (ms > MAX_TIMER_MS) fail("must be at most 24 days.")
  return ms
}

export function url(value: Raw): string {
  if (typeof value !== "string") return fail("must be a URL.")
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    return fail(`must be an http(s) URL such as "https://auth.example.com".`)
  }
  if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.search !== "" || parsed.hash !== "") {
    fail("must be an http(s) URL without query or fragment (RFC 8414 §2).")
  }
  return value.replace(/\/+$/, "")
}

/** A parser from another module, which throws a TypeError saying what is wrong with the text. */
export function fromText<T>(parse: (text: string) => T): Parser<T> {
  return (value) => {
    if (typeof value !== "string") return fail("must be a string.")
    try {
      return parse(value)
    } catch (error) {
      return fail((error as Error).message)
    }
  }
}

export function storeUrl(value: Raw): string {
  if (typeof value !== "string" || !/^(sqlite:.+|postgres(ql)?:\/\/.+|rediss?:\/\/.+)$/.test(value)) {
    fail('must be "sqlite:PATH", a "postgres://…" URL or a "redis://…" / "rediss://…" URL.')
  }
  return value
}

export function namespace(value: Raw): string {
  if (typeof value !== "string" || !/^[a-z_][a-z0-9_]{0,47}$/.test(value)) {
    fail("must be 1 to 48 lower-case letters, digits or underscores, not starting with a digit.")
  }
  return value
}

export function origins(value: Raw): string[] {
  const list = typeof value === "string" ? value.split(",").map((item) => item.trim()).filter((item) => item !== "") : value
  if (!Array.isArray(list) || list.length === 0) return fail('must list origins, e.g. "https://app.example,https://admin.example".')
  for (const origin of list) {
    let valid = false
    try {
      valid = new URL(origin).origin === origin
    } catch {
      valid = false
    }
    if (!valid) fail(`holds ${JSON.stringify(origin)}, which is not an origin (scheme, host and port only).`)
  }
  return list
}

export function trustProxy(value: Raw): boolean | number | string[] {
  if (value === true || value === "true") return true
  if (value === false || value === "false") return false
  if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) return integer(1, 100)(value)
  if (typeof value === "string") return value.split(",").map((item) => item.trim()).filter((item) => item !== "")
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value
  return fail("must be true, false, a number of hops or a comma-separated list of proxy addresses.")
}
