/// <reference lib="dom" />
// The API documentation in Chromium: /docs is Swagger UI, served by the server itself under its own strict
// Content-Security-Policy. It loads nothing from another origin, breaks no rule of the policy, lists every
// operation of the OpenAPI document, and sends a request from "Try it out". A screenshot goes to test-artifacts/.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import type { Browser } from "playwright-core"
import { consoleServer, launchChromium, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"
import { freePort } from "../helpers/server.ts"

let server: ConsoleServer
let browser: Browser
/** The issuer, which the document names as its server: "Try it out" calls it, so the page is opened there. */
let origin: string

before(async () => {
  if (withoutChromium) return
  const port = await freePort()
  origin = `http://localhost:${port}`
  server = await consoleServer({ REVOCABLE_PORT: String(port), REVOCABLE_ISSUER: origin })
  browser = await launchChromium()
})
after(async () => {
  await browser?.close()
  await server?.close()
})

describe("the API documentation", { skip: withoutChromium }, () => {
  test("/docs lists every operation of /docs/json, under its own policy, with nothing from another origin; Try it out calls the API", async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } })
    try {
      const page = await context.newPage()
      const errors: string[] = []
      const foreign: string[] = []
      page.on("pageerror", (error) => errors.push(error.message))
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text())
      })
      page.on("request", (request) => {
        const url = new URL(request.url())
        if (url.protocol !== "data:" && url.origin !== origin) foreign.push(request.url())
      })
      await page.addInitScript(() => {
        document.addEventListener("securitypolicyviolation", (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`))
      })

      const response = await page.goto(`${origin}/docs`)
      assert.equal(response?.status(), 200)
      assert.match((await response?.headerValue("content-security-policy")) ?? "", /default-src 'none'; script-src 'self';/)
      await page.locator(".opblock").first().waitFor()

      const listed = await page.locator(".opblock").evaluateAll((blocks) =>
        blocks.map((block) => `${block.querySelector(".opblock-summary-method")?.textContent} ${block.querySelector(".opblock-summary-path")?.getAttribute("data-path")}`),
      )
      const openapi = (await server.api("GET", "/docs/json")).body as { paths: Record<string, Record<string, unknown>> }
      const operations = Object.entries(openapi.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
      assert.ok(operations.length > 25, String(operations.length))
      assert.deepEqual(listed.toSorted(), operations.toSorted())
      await screenshot(page, "docs")

      const health = page.locator(".opblock", { has: page.locator('[data-path="/healthz"]') })
      await health.locator(".opblock-summary-control").click()
      await health.getByRole("button", { name: "Try it out" }).click()
      await health.getByRole("button", { name: "Execute" }).click()
      const answer = health.locator(".live-responses-table .response")
      await answer.waitFor()
      assert.equal((await answer.locator(".response-col_status").innerText()).trim(), "200")
      assert.match(await answer.locator(".response-col_description").innerText(), /"status": "ok"/)

      assert.deepEqual(errors, [], "no script error and no CSP violation")
      assert.deepEqual(foreign, [], "no request to another origin")
    } finally {
      await context.close()
    }
  })
})
