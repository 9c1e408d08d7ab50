// revocable/remote runs on Bun, Deno and workerd: no module it loads, its own or core's, may import node:*.
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { test } from "node:test"
import { fileURLToPath } from "node:url"

const ENTRY = fileURLToPath(new URL("../../src/remote/index.ts", import.meta.url))
const IMPORT = /^\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm

test("no module that src/remote/index.ts loads imports node:* (or uses Buffer or process)", () => {
  const seen = new Set<string>()
  const offenders: string[] = []
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = readFileSync(file, "utf8")
    for (const match of source.matchAll(IMPORT)) {
      // A type-only import is erased before the code runs.
      if (/^\s*(?:import|export)\s+type\b/.test(match[0])) continue
      const specifier = (match[1] ?? match[2] ?? match[3]) as string
      if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier))
      else offenders.push(`${file}: imports ${specifier}`)
    }
    // Only code, not comments: a global that only Node has.
    const code = source.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "")
    if (/\bBuffer\.|\bprocess\./.test(code) && !file.endsWith("base64url.ts")) offenders.push(`${file}: uses Buffer or process`)
  }
  visit(ENTRY)
  assert.ok(seen.size > 5, "the walk followed the imports")
  assert.deepEqual(offenders, [])
})
