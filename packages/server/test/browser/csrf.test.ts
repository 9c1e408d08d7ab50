/// <reference lib="dom" />
// Login CSRF in Chromium: a page of another origin submits sign-in forms to the server (a plain HTML form, and a
// JSON body smuggled through enctype="text/plain", and a no-cors fetch), which would sign the visitor's browser in
// to the attacker's account. The browser must stay signed out.
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, test } from "node:test"
import type { Browser } from "playwright-core"
import { consoleServer, launchChromium, PASSWORD, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

let server: ConsoleServer
let browser: Browser
let foreign: Server
let foreignUrl: string

/** The attacker's page: each variant posts the attacker's credentials to /auth/login on arrival. */
function attackPage(variant: string): string {
  const target = `${server.url}/auth/login`
  const json = JSON.stringify({ username: "mallory", password: PASSWORD, cookie: true, pad: "" })
  const forms: Record<string, string> = {
    urlencoded: `<form method="post" action="${target}"><input name="username" value="mallory"><input name="password" value="${PASSWORD}"><input name="cookie" value="true"></form>`,
    // The name holds the JSON up to the last value's opening quote; "=" and the value close it.
    plain: `<form method="post" enctype="text/plain" action="${target}"><input name='${json.slice(0, -2)}' value='"}'></form>`,
  }
  const body =
    variant === "fetch"
      ? `<script>fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", credentials: "include", body: ${JSON.stringify(json)} }).finally(() => { document.title = "sent" })</script>`
      : `${forms[variant]}<script>document.forms[0].submit()</script>`
  return `<!doctype html><title>win a prize</title>${body}`
}

before(async () => {
  if (withoutChromium) return
  server = await consoleServer()
  await server.register("mallory")
  browser = await launchChromium()
  // Another origin: the same host on another port (same-site, so even SameSite=Strict cookies would travel).
  foreign = createServer((request, response) => {
    const variant = new URL(request.url ?? "/", "http://x").searchParams.get("variant") ?? ""
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(attackPage(variant))
  })
  await new Promise<void>((resolve) => foreign.listen(0, "127.0.0.1", resolve))
  foreignUrl = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`
})
after(async () => {
  await browser?.close()
  await server?.close()
  await new Promise((resolve) => foreign?.close(resolve))
})

describe("login CSRF", { skip: withoutChromium }, () => {
  for (const variant of ["urlencoded", "plain", "fetch"]) {
    test(`a ${variant} sign-in posted from another origin leaves the browser signed out`, async () => {
      const context = await browser.newContext()
      try {
        const page = await context.newPage()
        const answered = page.waitForResponse((response) => response.url() === `${server.url}/auth/login`)
        await page.goto(`${foreignUrl}/?variant=${variant}`)
        const answer = await answered
        assert.notEqual(answer.status(), 200, "the server refused the sign-in")
        const names = (await context.cookies(server.url)).map((cookie) => cookie.name)
        assert.deepEqual(names.filter((name) => ["access_token", "refresh_token", "csrf_token"].includes(name)), [])

        const console = await context.newPage()
        await console.goto(`${server.url}/#/account`)
        await console.getByRole("heading", { level: 1, name: "Sign in", exact: true }).waitFor()
      } finally {
        await context.close()
      }
    })
  }
})
