// A large array as JSON without stalling the process: a million snapshot entries are tens of MB and seconds of
// one JSON.stringify, during which no request, heartbeat or store reply would be handled.

/** Entries serialized per turn of the event loop: a few milliseconds of work each. */
const SLICE = 10_000

/**
 * `prefix`, the entries as a JSON array's elements (comma-separated, no brackets), then `suffix`, as bytes:
 * the same as JSON.stringify of the whole, made SLICE entries at a time with the event loop let in between.
 *
 * @example
 * await slicedJson('{"revocations":[', entries, "]}")  // the bytes of JSON.stringify({ revocations: entries })
 */
export async function slicedJson(prefix: string, entries: readonly unknown[], suffix: string): Promise<Buffer> {
  const parts = [Buffer.from(prefix)]
  for (let start = 0; start < entries.length; start += SLICE) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve))
    const elements = JSON.stringify(entries.slice(start, start + SLICE)).slice(1, -1)
    parts.push(Buffer.from(start > 0 ? `,${elements}` : elements))
  }
  parts.push(Buffer.from(suffix))
  return Buffer.concat(parts)
}
