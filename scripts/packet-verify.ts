/**
 * `npm run packet:verify -- <packetId> --room <roomId> [--base-url http://localhost:8787]
 *   [--token <jwt>] [--commitment <hex you saw at send>]`
 *
 * Recomputes a finished red packet's shares from its revealed seed and checks them against the
 * public claim list (docs/adr/0008). The token (or GIFTWIRE_TOKEN) is any signed-in user's who
 * may read the packet. Exit 0: fair; 1: a mismatch; 2: not provable yet (open, or sent before
 * the scheme) or a usage error.
 */
import { parseArgs } from "node:util";
import { verifyPacket } from "./packet-verify/verify.ts";

const USAGE =
  "usage: npm run packet:verify -- <packetId> --room <roomId> [--base-url URL] [--token JWT] [--commitment HEX]";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    room: { type: "string" },
    "base-url": { type: "string", default: "http://localhost:8787" },
    token: { type: "string" },
    commitment: { type: "string" },
  },
});
const packetId = positionals[0];
const token = values.token ?? process.env.GIFTWIRE_TOKEN;
if (packetId === undefined || values.room === undefined || token === undefined) {
  console.error(USAGE);
  console.error("A token: --token or GIFTWIRE_TOKEN (any signed-in user who may read the packet).");
  process.exit(2);
}
const outcome = await verifyPacket(
  {
    packetId,
    roomId: values.room,
    baseUrl: values["base-url"],
    token,
    commitment: values.commitment ?? null,
  },
  (url, init) => fetch(url, init),
);
for (const line of outcome.lines) console.log(line);
process.exitCode = outcome.kind === "unprovable" ? 2 : outcome.verdict.ok ? 0 : 1;
