// The server about itself: the welcome listing (or the web console, to a browser), health and readiness, and
// metrics. The API documentation is docs.ts's.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { Type } from "typebox"
import { prefersHtml, sendConsolePage } from "../console.ts"
import { operations } from "../docs.ts"
import type { Services } from "../services.ts"

/** How long readiness waits for the store before calling it unreachable. */
const STORE_PROBE_MS = 2000

const Welcome = Type.Object({
  name: Type.String(),
  issuer: Type.String(),
  docs: Type.String(),
  endpoints: Type.Array(Type.Object({ method: Type.String(), path: Type.String(), summary: Type.String() })),
})
const Readiness = Type.Object({ status: Type.String(), store: Type.String(), replica: Type.String() })

export const metaRoutes: FastifyPluginAsyncTypebox<Pick<Services, "auth" | "config" | "store" | "metrics">> = async (app, { auth, config, store, metrics }) => {
  const tags = ["server"]
  let endpoints: ReturnType<typeof operations> | undefined

  app.get("/", {
    schema: {
      summary: "Welcome: what this server is and its endpoints; to a browser (Accept: text/html), the web console.",
      tags,
      response: { 200: Welcome },
    },
    async handler(request, reply) {
      if (prefersHtml(request.headers.accept)) return sendConsolePage(reply)
      endpoints ??= operations(app)
      return { name: "revocable", issuer: config.issuer, docs: "/docs", endpoints }
    },
  })

  app.get("/healthz", {
    schema: { summary: "Liveness: the process answers.", tags, response: { 200: Type.Object({ status: Type.String() }) } },
    async handler() {
      return { status: "ok" }
    },
  })

  app.get("/readyz", {
    schema: {
      summary: "Readiness: the store answers and the local replica of revocations is in sync.",
      tags,
      response: { 200: Readiness, 503: Readiness },
    },
    async handler(_request, reply) {
      const storeUp = await probe()
      const inSync = auth.replicaStatus().fresh
      const ready = storeUp && inSync
      return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unavailable", store: storeUp ? "up" : "down", replica: inSync ? "in-sync" : "stale" })
    },
  })

  async function probe(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), STORE_PROBE_MS)
    })
    try {
      return await Promise.race([store.getDocument("meta", "readyz").then(() => true, () => false), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  app.get("/metrics", {
    schema: { summary: "Prometheus metrics.", tags },
    async handler(_request, reply) {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  })
}
