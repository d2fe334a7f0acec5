import { DEFAULT_CURRENCY, formatMinor } from "../src/domain/money";

/**
 * The demo's paid articles (issue 19, 付费阅读), for the content page (`/content.html`): the
 * demo creator's guitar notes at 6.00 — inside the password-free limit, so the wallet pays at
 * once — and her masterclass at 288.00, above it (200.00), so the page asks for the payment PIN.
 * Fixed ids make the rows once however often the seed runs; a price or title changed in the
 * demo (PATCH /v1/admin/content) is kept.
 */
export const DEMO_ARTICLES = [
  {
    id: "cnt_01DEMC00000000000000000000",
    title: "Late-night guitar: the four chords behind tonight's set",
    priceMinor: 6_00,
  },
  {
    id: "cnt_01DEMC00000000000000000001",
    title: "Masterclass: fingerstyle arrangements, bar by bar",
    priceMinor: 288_00,
  },
] as const;

export async function seedDemoContent(
  db: D1Database,
  creatorId: string,
  nowMs: number,
): Promise<{ id: string; title: string; price: string }[]> {
  await db.batch(
    DEMO_ARTICLES.map((article) =>
      db
        .prepare(
          `INSERT INTO content_items (id, creator_id, kind, title, price_minor, currency, status, partner_id,
             external_ref, created_by, created_at_ms, updated_at_ms)
           VALUES (?, ?, 'article', ?, ?, ?, 'active', NULL, NULL, 'system:demo-seed', ?, ?)
           ON CONFLICT (id) DO NOTHING`,
        )
        .bind(article.id, creatorId, article.title, article.priceMinor, DEFAULT_CURRENCY, nowMs, nowMs),
    ),
  );
  return DEMO_ARTICLES.map((a) => ({ id: a.id, title: a.title, price: formatMinor(a.priceMinor) }));
}
