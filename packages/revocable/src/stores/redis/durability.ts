// Whether Redis keeps what the store acknowledged: warnings when persistence is off or eviction may drop keys.
import { bounded, isCluster, type Connection, type RedisTarget } from "./connection.ts"

export interface RedisWarning {
  code: "REVOCABLE_REDIS_PERSISTENCE" | "REVOCABLE_REDIS_EVICTION"
  message: string
}

/**
 * Warns when Redis may lose or evict what the store acknowledged: asks every master of a cluster, else the
 * store's connection. CONFIG may be disabled: then it says nothing.
 */
export async function durabilityWarnings(target: RedisTarget, connection: () => Connection, commandTimeoutMs: number): Promise<RedisWarning[]> {
  const nodes: Array<(args: string[]) => Promise<unknown>> = []
  if ("client" in target && isCluster(target.client)) {
    const cluster = target.client
    for (const master of cluster.masters) {
      nodes.push((args) => bounded(commandTimeoutMs, async () => (await cluster.nodeClient(master)).sendCommand(args)))
    }
  } else {
    const conn = connection()
    nodes.push((args) => conn.send(args, commandTimeoutMs, true))
  }
  const found = new Map<RedisWarning["code"], string>()
  for (const send of nodes) {
    let config: Map<string, string>
    try {
      config = pairs(await send(["CONFIG", "GET", "appendonly", "save", "maxmemory-policy"]))
    } catch {
      continue
    }
    if (config.get("appendonly") !== "yes" && !config.get("save")) {
      found.set(
        "REVOCABLE_REDIS_PERSISTENCE",
        "Redis persistence is off (neither AOF nor RDB): revocations are lost when Redis restarts. Set appendonly yes and appendfsync always.",
      )
    }
    const policy = config.get("maxmemory-policy")
    if (policy !== undefined && policy !== "noeviction") {
      found.set(
        "REVOCABLE_REDIS_EVICTION",
        `Redis maxmemory-policy is ${policy}: under memory pressure it can evict revocations. Set maxmemory-policy noeviction.`,
      )
    }
  }
  return [...found].map(([code, message]) => ({ code, message }))
}

/** CONFIG GET's reply as a map, RESP2 (flat array) or RESP3 (map) alike. */
function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>()
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]))
  } else if (reply instanceof Map) {
    for (const [key, value] of reply) map.set(String(key), String(value))
  } else if (reply && typeof reply === "object") {
    for (const [key, value] of Object.entries(reply)) map.set(key, String(value))
  }
  return map
}
