import { assert } from "../limits";

/**
 * Merging small tips into one frame per window. Totals are exact sums of what arrived;
 * combos group the same gift from the same viewer sent in quick succession (each within
 * `comboGapMs` of the previous), Bilibili style: "ana × rose ×12".
 */
export interface WindowTip {
  readonly tipId: string;
  readonly viewerId: string;
  readonly giftId: string | null;
  readonly quantity: number;
  readonly amountMinor: number;
  readonly atMs: number;
}

export interface MergedFrame {
  readonly tipCount: number;
  readonly totalMinor: number;
  readonly byGift: readonly { giftId: string | null; quantity: number; amountMinor: number }[];
  readonly combos: readonly {
    viewerId: string;
    giftId: string;
    quantity: number;
    tips: number;
    firstAtMs: number;
    lastAtMs: number;
  }[];
  readonly topTippers: readonly { viewerId: string; amountMinor: number }[];
  readonly fromMs: number;
  readonly toMs: number;
}

export function mergeWindow(tips: readonly WindowTip[], comboGapMs: number, topN: number): MergedFrame {
  assert(tips.length > 0, "a merged frame has at least one tip");
  const ordered = [...tips].sort((a, b) => a.atMs - b.atMs || (a.tipId < b.tipId ? -1 : 1));

  const byGift = new Map<string, { giftId: string | null; quantity: number; amountMinor: number }>();
  const byViewer = new Map<string, number>();
  let totalMinor = 0;
  for (const t of ordered) {
    const key = t.giftId ?? "";
    const g = byGift.get(key) ?? { giftId: t.giftId, quantity: 0, amountMinor: 0 };
    g.quantity += t.quantity;
    g.amountMinor += t.amountMinor;
    byGift.set(key, g);
    byViewer.set(t.viewerId, (byViewer.get(t.viewerId) ?? 0) + t.amountMinor);
    totalMinor += t.amountMinor;
  }

  const combos: MergedFrame["combos"][number][] = [];
  const open = new Map<string, MergedFrame["combos"][number]>();
  for (const t of ordered) {
    if (t.giftId === null) continue;
    const key = `${t.viewerId}\u0000${t.giftId}`;
    const current = open.get(key);
    if (current && t.atMs - current.lastAtMs <= comboGapMs) {
      current.quantity += t.quantity;
      current.tips += 1;
      current.lastAtMs = t.atMs;
    } else {
      const combo = {
        viewerId: t.viewerId,
        giftId: t.giftId,
        quantity: t.quantity,
        tips: 1,
        firstAtMs: t.atMs,
        lastAtMs: t.atMs,
      };
      combos.push(combo);
      open.set(key, combo);
    }
  }

  const topTippers = [...byViewer]
    .map(([viewerId, amountMinor]) => ({ viewerId, amountMinor }))
    .sort((a, b) => b.amountMinor - a.amountMinor || (a.viewerId < b.viewerId ? -1 : 1))
    .slice(0, topN);

  const frame: MergedFrame = {
    tipCount: ordered.length,
    totalMinor,
    byGift: [...byGift.values()].sort((a, b) => b.amountMinor - a.amountMinor),
    combos: combos.filter((c) => c.tips > 1),
    topTippers,
    fromMs: ordered[0]?.atMs ?? 0,
    toMs: ordered.at(-1)?.atMs ?? 0,
  };
  assert(frame.byGift.reduce((s, g) => s + g.amountMinor, 0) === totalMinor, "per-gift totals sum to the frame total");
  return frame;
}
