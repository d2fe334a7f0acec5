/**
 * `npx tsx bench/claim-args.ts` — what parsing `claimPacket`'s arguments with zod costs, the
 * hottest RPC of the room. Side by side in one run, per call, for a claimer who follows
 * 0, 20 and 500 creators (500 is the most a token may list):
 *
 *   clone     structuredClone of the arguments: a floor the RPC call itself already pays
 *             (its arguments are serialized on one side and deserialized on the other)
 *   parse     ClaimPacketArgs.parse, what the room now does first
 *
 * Runs in Node, whose V8 is workerd's engine; the figures are CPU per call on this machine.
 * Options (env): BENCH_CALLS=200000
 */
import { ClaimPacketArgs } from "../src/durable-objects/live-room.protocol";
import { log, median } from "./lib";

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000);
const ROUNDS = 5;

function nsPerCall(fn: () => unknown): number {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  return median(rounds);
}

log(`claimPacket arguments, ns per call (median of ${ROUNDS} rounds of ${CALLS.toLocaleString("en")} calls)`);
log("follows   clone    parse   parse/clone");
for (const followsCount of [0, 20, 500]) {
  const follows = Array.from({ length: followsCount }, (_, i) => `creator-${i}`);
  const args: ClaimPacketArgs = ["pkt_01JD5Z8Q2W3E4R5T6Y7U8I9O0P", "viewer-ana", follows];
  const clone = nsPerCall(() => structuredClone(args));
  const parse = nsPerCall(() => ClaimPacketArgs.parse(args));
  log(
    `${String(followsCount).padStart(7)} ${clone.toFixed(0).padStart(7)} ${parse.toFixed(0).padStart(8)} ${(parse / clone).toFixed(2).padStart(12)}`,
  );
}
