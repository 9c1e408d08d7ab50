// The entry of `revocable serve`: configuration from the environment, the server started, its URL logged.
import { createServer } from "node:net"
import { startServer, type RunningServer } from "../server/app.ts"
import { loadConfig, type ServerConfig } from "../server/config.ts"

/** Resolves once the server listens; it then runs until SIGTERM or SIGINT drains it. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const config = await withPickedPort(loadConfig(env))
  const server = await startServer(config)
  const store = config.store === null ? "sqlite" : config.store.split(":")[0]
  server.app.log.info({ url: server.url, console: `${server.url}/`, issuer: config.issuer, store }, `revocable is listening on ${server.url}; the web console is at ${server.url}/`)
  return server
}

/**
 * Port 0 asks for a free port. The issuer (every token's `iss`, the discovery document) is made before the server
 * listens, so the port is picked first: the default issuer then names it rather than port 0.
 */
async function withPickedPort(config: ServerConfig): Promise<ServerConfig> {
  const issuer = new URL(config.issuer)
  if (config.port !== 0 || issuer.port !== "0") return config
  const port = await freePort(config.host)
  issuer.port = String(port)
  return { ...config, port, issuer: issuer.href.replace(/\/$/, "") }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}
