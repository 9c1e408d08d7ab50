// The entry of `revocable serve`: configuration from the environment, the server started, its URL logged.
import { startServer, type RunningServer } from "../server/app.ts"
import { loadConfig } from "../server/config.ts"

/** Resolves once the server listens; it then runs until SIGTERM or SIGINT drains it. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const config = loadConfig(env)
  const server = await startServer(config)
  server.app.log.info({ url: server.url, store: config.store === null ? "sqlite" : config.store.split(":")[0] }, `revocable is listening on ${server.url}`)
  return server
}
