// The package as a user installs it: packed (which builds dist/ through `prepare`), installed into an empty
// project beside express alone, it pulls in no server dependency, type-checks and runs from dist/.
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)
const PACKAGE = fileURLToPath(new URL("..", import.meta.url))
// Without the repository's source condition: what an installed copy resolves is dist/.
const env = { ...process.env, NODE_OPTIONS: "" }

const project = mkdtempSync(join(tmpdir(), "revocable-pack-"))
after(() => rmSync(project, { recursive: true, force: true }))

test("packed and installed beside express alone: no Fastify or prom-client, it type-checks and runs from dist/", async () => {
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", project], { cwd: PACKAGE, env, maxBuffer: 1 << 24 })
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>
  assert.ok(packed !== undefined)
  const paths = packed.files.map((file) => file.path)
  assert.ok(paths.includes("dist/index.js") && paths.includes("dist/index.d.ts") && paths.includes("dist/testing/conformance.js") && paths.includes("dist/remote/index.js") && paths.includes("dist/oidc/index.js"))
  assert.deepEqual(paths.filter((path) => path.startsWith("src/") || path.startsWith("test/") || path.endsWith(".tsbuildinfo")), [])

  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(project, packed.filename), "express@5", "@types/express@5", "@types/node@24", "typescript@5.9"], { cwd: project, env })
  const installed = readdirSync(join(project, "node_modules"))
  const scoped = readdirSync(join(project, "node_modules", "@types"))
  assert.ok(!installed.includes("@fastify") && !scoped.includes("pg"), "a server dependency was installed")
  assert.ok(installed.includes("revocable") && installed.includes("express"))
  for (const unwanted of ["fastify", "prom-client", "typebox", "pg", "redis", "openid-client", "jose", "oauth4webapi"]) {
    assert.ok(!installed.includes(unwanted), `${unwanted} was installed`)
  }

  writeFileSync(
    join(project, "main.ts"),
    [
      'import express from "express"',
      'import { createAuth, type Claims } from "revocable"',
      'import { authenticate } from "revocable/express"',
      'import { memoryStore } from "revocable/stores/memory"',
      'import type { ServerStore } from "revocable/stores"',
      'const store: ServerStore = memoryStore()',
      'const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store })',
      'const app = express()',
      'app.get("/me", authenticate(auth), (_request, response) => response.json({ ok: true }))',
      "const pair = await auth.issue(\"alice\")",
      "const claims: Claims = await auth.verify(pair.accessToken)",
      "await auth.revoke(pair.accessToken)",
      'const refused = await auth.verify(pair.accessToken).then(() => "accepted", (error: { code: string }) => error.code)',
      "console.log(JSON.stringify({ sub: claims.sub, refused }))",
      "await auth.close()",
    ].join("\n"),
  )
  const tsc = join(project, "node_modules", "typescript", "bin", "tsc")
  await run(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "--target", "es2023", "--skipLibCheck", "main.ts"], { cwd: project, env })
  const { stdout: output } = await run(process.execPath, ["main.ts"], { cwd: project, env })
  assert.deepEqual(JSON.parse(output), { sub: "alice", refused: "token_revoked" })
  assert.ok(existsSync(join(project, "node_modules", "revocable", "dist", "index.js")))
})
