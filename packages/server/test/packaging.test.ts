// What each package of the workspace ships and declares: the license that package.json names, the entry of the
// `revocable` command, and every package its files import declared by the package whose files import it.
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { join } from "node:path"
import { test } from "node:test"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
const PACKAGES = ["packages/revocable", "packages/server"]

interface Manifest {
  name: string
  license: string
  bin?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

const manifest = (folder: string): Manifest => JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8")) as Manifest

test("the repository and each package carry the MIT license that their package.json names, and ship it", async () => {
  const text = readFileSync(join(ROOT, "LICENSE"), "utf8")
  assert.match(text, /^MIT License\n\nCopyright \(c\) \d{4} /)
  assert.equal(manifest(".").license, "MIT")
  for (const folder of PACKAGES) {
    assert.equal(manifest(folder).license, "MIT", folder)
    assert.equal(readFileSync(join(ROOT, folder, "LICENSE"), "utf8"), text, folder)
    const { stdout } = await promisify(execFile)("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: join(ROOT, folder), maxBuffer: 1 << 24 })
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ files: Array<{ path: string }> }>
    const paths = (packed?.files ?? []).map((file) => file.path)
    assert.ok(paths.includes("LICENSE"), `${folder} ships LICENSE`)
    for (const bin of Object.values(manifest(folder).bin ?? {})) assert.ok(paths.includes(bin.replace(/^\.\//, "")), `${folder} ships ${bin}`)
  }
})

test("every package a source file imports is a dependency or peer of its package, every one a test imports a dependency or dev dependency", () => {
  for (const folder of PACKAGES) {
    const own = manifest(folder)
    const runtime = new Set([own.name, ...Object.keys(own.dependencies ?? {}), ...Object.keys(own.peerDependencies ?? {})])
    // An optional peer is not installed for the package's own tests: those need it as a dev dependency.
    const development = new Set([own.name, ...Object.keys(own.dependencies ?? {}), ...Object.keys(own.devDependencies ?? {})])
    const undeclared = [
      ...[...importsUnder(join(ROOT, folder, "src"))].filter(([name]) => !runtime.has(name)),
      ...[...importsUnder(join(ROOT, folder, "test"))].filter(([name]) => !development.has(name)),
    ].map(([name, file]) => `${name} (${file.slice(ROOT.length)})`)
    assert.deepEqual(undeclared, [], `${own.name} imports packages it does not declare`)
  }
})

/** The packages imported by the TypeScript files under `folder` (comments included: their examples must run too), each with one file. */
function importsUnder(folder: string): Map<string, string> {
  const found = new Map<string, string>()
  const builtins = new Set(builtinModules)
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|js|mjs)$/.test(entry.name)) continue
    const file = join(entry.parentPath, entry.name)
    for (const [, specifier = ""] of readFileSync(file, "utf8").matchAll(/(?:\bfrom\s+|\bimport\s+|\bimport\(\s*)["']([^"'./#\s][^"'\s]*)["']/g)) {
      if (specifier.startsWith("node:") || builtins.has(specifier)) continue
      const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] as string)
      // Text that only looks like an import, such as a regular expression matching one.
      if (!/^(@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/.test(name)) continue
      if (!found.has(name)) found.set(name, file)
    }
  }
  return found
}
