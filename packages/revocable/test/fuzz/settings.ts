// How many cases a property runs and from which seed, shared by the fuzz tests of both packages.
//
// `npm test` runs each property a bounded number of times from a fixed seed, so CI is deterministic and each
// property takes a few seconds at most. `npm run fuzz` (REVOCABLE_FUZZ=deep) runs many more, from a random
// seed. REVOCABLE_FUZZ_SEED=<n> sets the seed in either mode.
//
// A failure's message (fast-check's, kept whole by fuzz()) carries the seed, the path and the shrunk
// counterexample. To replay it: `REVOCABLE_FUZZ_SEED=<seed> npm run fuzz -- --test-name-pattern "<test name>"`
// (the same seed draws the same cases, a bounded run's first). To keep it: fix the cause, then add a plain
// example test beside the property that sends the counterexample as a literal value and asserts the right
// answer, so the case stays covered whatever seed later runs draw.
import fc from "fast-check"

export const DEEP = process.env.REVOCABLE_FUZZ === "deep"

const DEEP_FACTOR = 50
const DEFAULT_SEED = 0x5eed

export const SEED = seedFromEnvironment()

function seedFromEnvironment(): number {
  const given = process.env.REVOCABLE_FUZZ_SEED
  if (given !== undefined && given !== "") {
    const seed = Number(given)
    if (!Number.isSafeInteger(seed)) throw new TypeError(`REVOCABLE_FUZZ_SEED must be an integer, not ${JSON.stringify(given)}.`)
    return seed | 0
  }
  return DEEP ? (Math.random() * 2 ** 32) | 0 : DEFAULT_SEED
}

/** The runs of a property: `bounded` in CI, many more in deep mode. */
export function runs(bounded: number): number {
  return DEEP ? bounded * DEEP_FACTOR : bounded
}

/**
 * Checks a property from SEED, `bounded` runs (more in deep mode). On failure it throws fast-check's report, with
 * the seed, the path and the counterexample, and how to replay it.
 */
export async function fuzz<Ts>(property: fc.IRawProperty<Ts>, bounded: number): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, numRuns: runs(bounded) })
  } catch (error) {
    // A deep run from the same seed draws the bounded run's cases first, so one command replays either.
    if (error instanceof Error) error.message += `\nReplay: REVOCABLE_FUZZ_SEED=${SEED} npm run fuzz; then keep the counterexample as an example test.`
    throw error
  }
}
