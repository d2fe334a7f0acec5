import { assert } from "../src/domain/limits";
import { DEFAULT_CURRENCY, formatMinor } from "../src/domain/money";
import type { createApp } from "../src/worker/app";

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

type App = ReturnType<typeof createApp>;

/** The fixed Idempotency-Keys of the demo's unlock and content tip: each is made once, then replayed. */
const DEMO_UNLOCK_KEY = "demo-unlock-guitar-notes";
const DEMO_CONTENT_TIP_KEY = "demo-content-tip-guitar-notes";

/**
 * One of the creator's past fans (dev/seed-earnings.ts) unlocks the guitar notes and tips them,
 * through the API as a reader would (POST /v1/content/{id}/unlock, POST /v1/content/{id}/tips), so
 * the operator console's unlocks and content tabs are not empty. The demo viewers stay locked out
 * (the content page's demo). Idempotent: fixed Idempotency-Keys replay the first answers; an
 * unlock an operator refunded in the demo stays refunded.
 */
export async function seedDemoUnlocks(
  app: App,
  env: Env,
  ctx: Parameters<App["request"]>[3],
  fanToken: string,
): Promise<void> {
  const article = DEMO_ARTICLES[0];
  const call = async (path: string, key: string, body: unknown) => {
    const res = await app.request(
      `/v1${path}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${fanToken}`, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(body),
      },
      env,
      ctx,
    );
    return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
  };
  const unlocked = await call(`/content/${article.id}/unlock`, DEMO_UNLOCK_KEY, {});
  assert(
    unlocked.status === 201 || unlocked.status === 200 || unlocked.body.error?.code === "already_unlocked",
    `the demo unlock is made (${unlocked.status} ${unlocked.body.error?.code})`,
  );
  const tipped = await call(`/content/${article.id}/tips`, DEMO_CONTENT_TIP_KEY, {
    amount: "8.80",
    message: "Finally got the bridge chords, thanks!",
  });
  assert(
    tipped.status === 201 || tipped.status === 200,
    `the demo content tip is sent (${tipped.status} ${tipped.body.error?.code})`,
  );
}
