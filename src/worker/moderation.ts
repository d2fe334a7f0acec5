import type { Context } from "hono";
import { currentWordList } from "../db/moderation-words";
import type { HeldGreeting } from "../db/operations/packet-send";
import { LIMITS } from "../domain/limits";
import { codePointLength, type ModeratedMessage, moderateMessage, screenName } from "../domain/moderation";
import { DEFAULT_PACKET_GREETING } from "../domain/red-packet";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

/**
 * A tip's message at the edge: trimmed (empty is no message), its length checked in code
 * points (400 `message_too_long`), then moderated against this isolate's copy of the word list
 * (no database read unless the copy is older than its TTL).
 */
export async function moderatedMessage(c: Context<AppEnv>, raw: string | undefined): Promise<ModeratedMessage | null> {
  const text = raw?.trim() ?? "";
  if (text === "") return null;
  if (codePointLength(text) > LIMITS.tipMessageMaxCodePoints) throw new ApiError("message_too_long");
  const list = await currentWordList(c.var.ledger.control, c.var.config.switchCacheTtlMs);
  return moderateMessage(list, text);
}

/**
 * A red packet's greeting: shown, masked, or held for review. A held one is not shown: the packet
 * goes out at once with the default greeting, and the sender's replaces it when an operator
 * approves it (src/db/packet-greetings.ts). Nothing about the money waits for it.
 */
export async function moderatedGreeting(
  c: Context<AppEnv>,
  text: string,
): Promise<{
  readonly greeting: string;
  readonly status: ModeratedMessage["status"];
  readonly held: HeldGreeting | null;
}> {
  if (text === "") return { greeting: "", status: "shown", held: null };
  const list = await currentWordList(c.var.ledger.control, c.var.config.switchCacheTtlMs);
  const moderated = moderateMessage(list, text);
  return moderated.status === "held"
    ? { greeting: DEFAULT_PACKET_GREETING, status: "held", held: { text, shown: moderated.shown } }
    : { greeting: moderated.shown, status: moderated.status, held: null };
}

/** A room title or a creator's display name: masked, or refused with 422 `text_refused` (a hold-level word). */
export async function screenedName(c: Context<AppEnv>, text: string): Promise<string> {
  const list = await currentWordList(c.var.ledger.control, c.var.config.switchCacheTtlMs);
  const screened = screenName(list, text);
  if (!screened.ok) throw ApiError.from(screened);
  return screened.value;
}
