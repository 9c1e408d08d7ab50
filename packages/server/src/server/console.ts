/**
 * The web console (src/console), as the auth server serves it: the page at `/` (to browsers: an `Accept` with
 * text/html) and its files under `/assets/`: `console/style.css`, the console's modules and those of
 * revocable/client under `client/`. No bundler: the browser imports the ES modules as they are, except that
 * the console's import of `revocable/client` is pointed at `../client/index.js` (no import map: the page's CSP
 * allows no inline script). A published package has them compiled (`dist/console/*.js`, and the client from
 * the installed `revocable`); run from the sources, the `.ts` files are served with their types stripped by Node
 * (`module.stripTypeScriptTypes`), under either extension, since a browser goes by the Content-Type, so the
 * sources' own `./x.ts` imports resolve as they are.
 *
 * @example
 * await app.register(consoleRoutes, { prefix: "/assets" })   // GET /assets/*
 * app.get("/", (request, reply) => prefersHtml(request.headers.accept) ? sendConsolePage(reply) : welcome())
 */
import { existsSync, readFileSync } from "node:fs"
import { stripTypeScriptTypes } from "node:module"
import type { FastifyPluginAsync, FastifyReply } from "fastify"

export interface ConsoleFile {
  type: string
  body: string
}

/** Every answer of the console: its scripts and styles come from this origin only, and it is never framed. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
}

const CONSOLE = new URL("../console/", import.meta.url)
// Wherever `revocable` is: its sources in this repository, its dist/ once installed.
const CLIENT = new URL(".", import.meta.resolve("revocable/client"))
const DIRECTORIES: Readonly<Record<string, URL>> = { console: CONSOLE, client: CLIENT }
const CLIENT_IMPORT = /from "revocable\/client"/g
const ASSET = /^(console|client)\/([a-z]+)\.(js|ts|css)$/
const JS = "text/javascript; charset=utf-8"

const cache = new Map<string, ConsoleFile | null>()
let page: ConsoleFile | undefined

/** A file under `/assets/` by its path there ("console/entry.js"); null when there is no such file. */
export function consoleAsset(path: string): ConsoleFile | null {
  if (!cache.has(path)) cache.set(path, load(path))
  return cache.get(path) ?? null
}

/** The page served at `/`. */
export function consolePage(): ConsoleFile {
  page ??= { type: "text/html; charset=utf-8", body: readFileSync(new URL("index.html", CONSOLE), "utf8") }
  return page
}

function load(path: string): ConsoleFile | null {
  const match = ASSET.exec(path)
  if (match === null) return null
  const [, folder = "", name = "", extension = ""] = match
  const directory = DIRECTORIES[folder] as URL
  if (extension === "css") {
    const file = new URL(`${name}.css`, directory)
    return folder === "console" && existsSync(file) ? { type: "text/css; charset=utf-8", body: readFileSync(file, "utf8") } : null
  }
  const compiled = new URL(`${name}.js`, directory)
  const source = new URL(`${name}.ts`, directory)
  let body: string
  if (existsSync(compiled)) body = readFileSync(compiled, "utf8")
  else if (existsSync(source)) body = stripTypeScriptTypes(readFileSync(source, "utf8"), { mode: "strip" })
  else return null
  return { type: JS, body: folder === "console" ? body.replace(CLIENT_IMPORT, 'from "../client/index.js"') : body }
}

/** Whether a request's `Accept` asks for a page (a browser) rather than JSON (curl, an API client). */
export function prefersHtml(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept)
}

export function sendConsolePage(reply: FastifyReply): FastifyReply {
  const page = consolePage()
  return reply.headers(CONSOLE_HEADERS).type(page.type).send(page.body)
}

/** `GET /*` under its prefix (/assets): the console's scripts and stylesheet. */
export const consoleRoutes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { "*": string } }>("/*", {
    schema: { summary: "The web console's scripts and stylesheet.", tags: ["console"] },
    async handler(request, reply) {
      const file = consoleAsset(request.params["*"])
      if (file === null) return reply.code(404).send({ error: "not_found", error_description: "No such file." })
      return reply.headers(CONSOLE_HEADERS).type(file.type).send(file.body)
    },
  })
}
