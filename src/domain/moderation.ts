/**
 * Moderating short texts (tip messages, red-packet greetings, room titles, creator names)
 * against the operators' sensitive-word list: pure, no I/O; the list is compiled once per
 * isolate copy (src/db/moderation-words.ts) and every text is matched in memory.
 *
 * Matching is on a normalized copy of the text, each of whose symbols remembers the code
 * point of the original it came from, so a match masks the original span:
 *   1. zero-width characters (U+200B–U+200D, U+FEFF, U+2060) are dropped;
 *   2. each code point is NFKC-normalized (full-width → half-width, circled and other
 *      compatibility forms → plain), then lower-cased;
 *   3. traditional characters in `TRADITIONAL_TO_SIMPLIFIED` become simplified;
 *   4. only letters and digits (\p{L}, \p{N}) are kept: spaces, punctuation, symbols and emoji
 *      inserted between characters ("f.u.c.k", "傻 逼", "加❤微❤信") vanish from the copy.
 * List words (and their variants) are normalized the same way and found with Aho–Corasick.
 * A word made only of ASCII letters and digits must stand as a whole word in the original
 * (no ASCII letter or digit right before or after the span), or "ass" would hold "class"
 * and, with spaces dropped, "sb" would hold "is bad"; inflections are listed as variants.
 *
 * Limits, honestly: the traditional table covers only the pairs listed below (characters of
 * common list words), not the whole of Chinese; homophones, pinyin, split characters (口十)
 * and look-alike Latin letters (Cyrillic а) are not normalized; accented letters stay
 * distinct (fück ≠ fuck); a word spelled with digits between its letters ("f1uck") is not
 * caught, since digits are kept.
 */

import { AhoCorasick } from "./aho-corasick";
import { fail, ok, type Result } from "./errors";
import { assert, LIMITS } from "./limits";

export const MODERATION_LEVELS = ["mask", "hold"] as const;
export type ModerationLevel = (typeof MODERATION_LEVELS)[number];

/** A list entry: the word, what a match does, and other spellings of it. */
export interface ListedWord {
  readonly word: string;
  readonly level: ModerationLevel;
  readonly variants: readonly string[];
}

/** What a text comes to: shown as written, shown masked, or held for review. */
export type ModerationOutcome = "pass" | "mask" | "hold";

export interface Moderation {
  readonly outcome: ModerationOutcome;
  /** The text with every mask-level match masked (hold-level matches left as written: a reviewer reads them). */
  readonly masked: string;
  readonly hits: readonly {
    readonly word: string;
    readonly level: ModerationLevel;
    readonly start: number;
    readonly end: number;
  }[];
}

export const MASK_CHAR = "*";

const ZERO_WIDTH = new Set(["\u200B", "\u200C", "\u200D", "\uFEFF", "\u2060"]);
const KEPT = /^[\p{L}\p{N}]$/u;
const ASCII_WORD = /^[a-z0-9]$/;

/**
 * Traditional → simplified, for the characters of common list words only (gambling, fraud,
 * drugs, sex, abuse); a list entry names its own variants for anything beyond.
 */
export const TRADITIONAL_TO_SIMPLIFIED: Readonly<Record<string, string>> = {
  賭: "赌",
  詐: "诈",
  騙: "骗",
  槍: "枪",
  約: "约",
  單: "单",
  職: "职",
  網: "网",
  黃: "黄",
  賤: "贱",
  廢: "废",
  開: "开",
  發: "发",
  錢: "钱",
  殺: "杀",
  媽: "妈",
  結: "结",
  滾: "滚",
  買: "买",
  賣: "卖",
  號: "号",
  幣: "币",
  貸: "贷",
  點: "点",
  擊: "击",
  門: "门",
  們: "们",
  薦: "荐",
  優: "优",
  紅: "红",
  禮: "礼",
  場: "场",
  線: "线",
  碼: "码",
  裡: "里",
  這: "这",
  個: "个",
  夠: "够",
  腦: "脑",
  殘: "残",
  雞: "鸡",
  傷: "伤",
  藥: "药",
  麼: "么",
  龜: "龟",
  戀: "恋",
  聯: "联",
  係: "系",
  繫: "系",
  違: "违",
  規: "规",
  貨: "货",
  農: "农",
};

/** A text's normalized symbols, each with the index of the original code point it came from. */
export interface NormalizedText {
  readonly codePoints: readonly string[];
  readonly symbols: readonly string[];
  readonly origin: readonly number[];
}

export function normalizeText(text: string): NormalizedText {
  const codePoints = Array.from(text);
  const symbols: string[] = [];
  const origin: number[] = [];
  for (const [i, cp] of codePoints.entries()) {
    if (ZERO_WIDTH.has(cp)) continue;
    for (const c of cp.normalize("NFKC").toLowerCase().normalize("NFKC")) {
      const s = TRADITIONAL_TO_SIMPLIFIED[c] ?? c;
      if (!KEPT.test(s)) continue;
      symbols.push(s);
      origin.push(i);
    }
  }
  return { codePoints, symbols, origin };
}

/** True when the original code point, normalized, is an ASCII letter or digit. */
function asciiWordChar(cp: string | undefined): boolean {
  if (cp === undefined) return false;
  const n = cp.normalize("NFKC").toLowerCase();
  return n.length === 1 && ASCII_WORD.test(n);
}

/** A list compiled for matching: built once per copy of the list, used for every text. */
export class CompiledWordList {
  private readonly automaton: AhoCorasick;
  /** Per pattern: its entry, and whether it must stand as a whole word. */
  private readonly patterns: { entry: ListedWord; wholeWord: boolean }[] = [];

  constructor(readonly words: readonly ListedWord[]) {
    assert(words.length <= LIMITS.moderationWordsMax, "the word list is within its limit");
    const symbols: string[][] = [];
    for (const entry of words) {
      for (const form of [entry.word, ...entry.variants]) {
        const normalized = [...normalizeText(form).symbols];
        if (normalized.length === 0) continue;
        symbols.push(normalized);
        this.patterns.push({ entry, wholeWord: normalized.every((s) => ASCII_WORD.test(s)) });
      }
    }
    this.automaton = new AhoCorasick(symbols);
  }

  moderate(text: string): Moderation {
    const n = normalizeText(text);
    const hits: { word: string; level: ModerationLevel; start: number; end: number }[] = [];
    for (const m of this.automaton.search(n.symbols)) {
      const pattern = this.patterns[m.pattern];
      assert(pattern !== undefined, "a match names a pattern");
      const start = n.origin[m.start] as number;
      const end = (n.origin[m.end - 1] as number) + 1;
      if (pattern.wholeWord && (asciiWordChar(n.codePoints[start - 1]) || asciiWordChar(n.codePoints[end]))) continue;
      hits.push({ word: pattern.entry.word, level: pattern.entry.level, start, end });
    }
    const masked = [...n.codePoints];
    for (const h of hits) if (h.level === "mask") for (let i = h.start; i < h.end; i++) masked[i] = MASK_CHAR;
    const outcome: ModerationOutcome = hits.some((h) => h.level === "hold")
      ? "hold"
      : hits.length > 0
        ? "mask"
        : "pass";
    return { outcome, masked: masked.join(""), hits };
  }
}

export const EMPTY_WORD_LIST = new CompiledWordList([]);

/** A message's length as the limit counts it: Unicode code points (an emoji with modifiers counts several). */
export function codePointLength(text: string): number {
  return Array.from(text).length;
}

/**
 * A tip's or packet's message as stored and shown: `shown` (as written), `masked`, or `held`
 * (not shown until an operator approves it; then `approved`, or `rejected` and never shown).
 */
export const MESSAGE_STATUSES = ["shown", "masked", "held", "approved", "rejected"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface ModeratedMessage {
  /** What the sender wrote (trimmed). */
  readonly text: string;
  /** What the room shows: the text with mask-level words masked. */
  readonly shown: string;
  readonly status: "shown" | "masked" | "held";
}

export function moderateMessage(list: CompiledWordList, text: string): ModeratedMessage {
  const m = list.moderate(text);
  const status = m.outcome === "hold" ? "held" : m.outcome === "mask" ? "masked" : "shown";
  return { text, shown: m.masked, status };
}

/**
 * A room title or a creator's display name: masked when it has mask-level words; refused
 * (`text_refused`) when it has a hold-level word, since a title or a name has nobody to wait
 * for a review: the creator picks another one at once.
 */
export function screenName(list: CompiledWordList, text: string): Result<string, "text_refused"> {
  const m = list.moderate(text);
  if (m.outcome === "hold") return fail("text_refused");
  return ok(m.masked);
}
