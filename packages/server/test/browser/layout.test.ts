/// <reference lib="dom" />
// The console on a phone (390 px) and a desktop (1280 px), light and dark: every page fits its viewport without
// the page scrolling sideways (a wide table scrolls inside its own box), text keeps its contrast in both colour
// schemes, and the navigation is reached from the keyboard. Screenshots of each page go to test-artifacts/.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import type { Browser, Page } from "playwright-core"
import { ADMIN_PASSWORD, consoleServer, launchChromium, screenshot, withoutChromium, type ConsoleServer } from "../helpers/browser.ts"

let server: ConsoleServer
let browser: Browser

const VIEWPORTS = [
  { name: "phone", width: 390, height: 844 },
  { name: "desktop", width: 1280, height: 800 },
] as const
const SCHEMES = ["light", "dark"] as const
/** Every page of the console, by the heading it shows. */
const PAGES = [
  { hash: "#/account", heading: "My account" },
  { hash: "#/admin/revocations", heading: "Revocations" },
  { hash: "#/admin/users", heading: "Users" },
  { hash: "#/admin/keys", heading: "Signing keys" },
  { hash: "#/admin/activity", heading: "Activity" },
  { hash: "#/admin/webhooks", heading: "Webhooks" },
] as const

before(async () => {
  if (withoutChromium) return
  server = await consoleServer({ REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000" })
  browser = await launchChromium()
  // Content that makes tables wide: long names, sessions with long device labels, revocations with reasons.
  const token = await server.adminToken()
  for (const username of ["a-rather-long-username-for-a-narrow-screen", "bob"]) {
    const sub = await server.register(username)
    await server.api("POST", "/admin/revocations", { token, json: { kind: "subject", id: sub, reason: "a reason long enough to need more than one line on a phone" } })
  }
  // Never sent: no signing key is retired here.
  const hook = await server.api("POST", "/admin/webhooks", { token, json: { url: "https://hooks.a-rather-long-host-name-for-a-narrow-screen.example/revocable/audit", events: ["key.retired"] } })
  assert.equal(hook.status, 201)
  for (let i = 0; i < 2; i++) {
    const answer = await server.api("POST", "/auth/login", { json: { username: "admin", password: ADMIN_PASSWORD, device: `Firefox 140 on a laptop with a long device label number ${i}` } })
    assert.equal(answer.status, 200)
  }
})
after(async () => {
  await browser?.close()
  await server?.close()
})

/** The page's own horizontal overflow: how much wider the document is than the viewport. */
function sidewaysScroll(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
}

/** The elements that reach past the viewport's right edge, for the failure message. */
function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll("body *"))
      .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ""}${element.className ? `.${String(element.className).replaceAll(" ", ".")}` : ""} (${Math.round(element.getBoundingClientRect().right)} px)`),
  )
}

/** WCAG 2.x contrast ratio of the body's text on the page's background. */
function bodyContrast(page: Page): Promise<number> {
  return page.evaluate(() => {
    const channels = (color: string) => (color.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number)
    const luminance = (color: string) => {
      const [r = 0, g = 0, b = 0] = channels(color).map((value) => {
        const c = value / 255
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
      })
      return 0.2126 * r + 0.7152 * g + 0.0722 * b
    }
    // The page's colours are set on the root element; the body inherits them.
    const style = getComputedStyle(document.documentElement)
    const [light, dark] = [luminance(getComputedStyle(document.body).color), luminance(style.backgroundColor)].sort((a, b) => b - a) as [number, number]
    return (light + 0.05) / (dark + 0.05)
  })
}

function bodyBackgroundLuminance(page: Page): Promise<number> {
  return page.evaluate(() => {
    const [r = 0, g = 0, b = 0, alpha = 1] = (getComputedStyle(document.documentElement).backgroundColor.match(/[\d.]+/g) ?? []).map(Number)
    if (alpha === 0) return Number.NaN
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
  })
}

describe("the console on phones and desktops, light and dark", { skip: withoutChromium }, () => {
  for (const viewport of VIEWPORTS) {
    for (const scheme of SCHEMES) {
      test(`${viewport.name} (${viewport.width} px), ${scheme}: every page fits the screen and reads clearly`, async () => {
        const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height }, colorScheme: scheme })
        try {
          const page = await context.newPage()
          const errors: string[] = []
          page.on("pageerror", (error) => errors.push(error.message))
          await page.goto(`${server.url}/#/account`)
          await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor()
          assert.equal(await sidewaysScroll(page), 0, "the sign-in page fits")
          await page.goto(`${server.url}/#/register`)
          await page.getByRole("heading", { level: 1, name: "Create an account" }).waitFor()
          assert.equal(await sidewaysScroll(page), 0, "the registration page fits")
          await page.goto(`${server.url}/#/account`)
          await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor()
          await page.getByLabel("Username").fill("admin")
          await page.getByLabel("Password").fill(ADMIN_PASSWORD)
          await page.getByRole("button", { name: "Sign in" }).click()
          for (const { hash, heading } of PAGES) {
            await page.goto(`${server.url}/${hash}`)
            await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor()
            // A table is drawn once its rows have loaded: wait for the last table's first row, if any.
            await page.waitForFunction(() => !document.querySelector("main")?.textContent?.includes("Loading"))
            assert.equal(await sidewaysScroll(page), 0, `${hash} does not scroll sideways at ${viewport.width} px: ${await overflowing(page)}`)
            assert.ok((await bodyContrast(page)) >= 4.5, `${hash}: text contrast at least 4.5:1 in ${scheme}`)
            const background = await bodyBackgroundLuminance(page)
            if (scheme === "dark") assert.ok(background < 0.25, `${hash} is dark in the dark scheme`)
            else assert.ok(background > 0.9, `${hash} is light in the light scheme`)
            await screenshot(page, `console-${viewport.name}-${scheme}-${hash.slice(2).replaceAll("/", "-")}`)
          }
          // A user's detail, opened from the Users page.
          await page.goto(`${server.url}/#/admin/users`)
          await page.getByRole("button", { name: "Open a-rather-long-username-for-a-narrow-screen" }).click()
          await page.getByRole("heading", { level: 2, name: /a-rather-long-username-for-a-narrow-screen/ }).first().waitFor()
          assert.equal(await sidewaysScroll(page), 0, `a user's detail does not scroll sideways at ${viewport.width} px: ${await overflowing(page)}`)
          await screenshot(page, `console-${viewport.name}-${scheme}-admin-user-detail`)
          assert.deepEqual(errors, [], "no script error")
        } finally {
          await context.close()
        }
      })
    }
  }

  test("on a phone, the navigation is reached from the keyboard and shows where focus is", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
    try {
      const page = await context.newPage()
      await page.goto(`${server.url}/#/account`)
      await page.getByLabel("Username").fill("admin")
      await page.getByLabel("Password").fill(ADMIN_PASSWORD)
      await page.keyboard.press("Enter")
      await page.getByRole("heading", { level: 1, name: "My account" }).waitFor()
      await page.keyboard.press("Shift+Tab")
      // Back from the focused heading, through the bar, to the Users link.
      let reached = false
      for (let i = 0; i < 10 && !reached; i++) {
        reached = await page.evaluate(() => document.activeElement?.textContent === "Users")
        if (!reached) await page.keyboard.press("Shift+Tab")
      }
      assert.ok(reached, "the Users link takes focus from the keyboard")
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)
      assert.notEqual(outline, "none", "focus is visible")
      await page.keyboard.press("Enter")
      await page.getByRole("heading", { level: 1, name: "Users" }).waitFor()
    } finally {
      await context.close()
    }
  })
})
