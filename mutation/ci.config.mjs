// `npm run mutate:ci`: replica.ts and idset.ts alone, where every mutant that can change behaviour is killed,
// so a change that weakens their tests fails CI. About two minutes on two cores.
import base from "./stryker.config.mjs"

export default {
  ...base,
  mutate: ["packages/revocable/src/core/replica.ts", "packages/revocable/src/core/idset.ts"],
  plugins: ["@stryker-mutator/*"],
  reporters: ["clear-text", "progress"],
  thresholds: { high: 100, low: 100, break: 100 },
  // CI has the machine to itself: a hung mutant (an endless probe loop) is given up on sooner.
  timeoutFactor: 1.5,
  timeoutMS: 3000,
}
