/**
 * A local receiver for alert webhooks (Slack, Feishu, WeCom, generic), reached by the Worker
 * under test at https://hooks.test/… through the test network (provider-network.ts). It
 * records every request and answers as the real bot would: Feishu `{"code":0}`, WeCom
 * `{"errcode":0}`, others `ok` — or, when told to fail, 503 for the next N requests whose URL
 * or body contains `match`. Tests read what it received at https://doubles.test/hooks/received.
 */

export const HOOKS_HOST = "hooks.test";

export interface ReceivedHook {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly atMs: number;
}

export class HookReceiver {
  readonly received: ReceivedHook[] = [];
  private failures: { count: number; match: string }[] = [];

  async fetch(request: Request): Promise<Response> {
    const body = await request.text();
    this.received.push({ url: request.url, headers: Object.fromEntries(request.headers), body, atMs: Date.now() });
    const failure = this.failures.find((f) => f.count > 0 && (request.url.includes(f.match) || body.includes(f.match)));
    if (failure) {
      failure.count -= 1;
      return new Response("unavailable", { status: 503 });
    }
    const path = new URL(request.url).pathname;
    if (path.startsWith("/feishu")) return Response.json({ code: 0, msg: "success" });
    if (path.startsWith("/wecom")) return Response.json({ errcode: 0, errmsg: "ok" });
    return new Response("ok");
  }

  failNext(count: number, match: string): void {
    this.failures.push({ count, match });
  }

  matching(match: string | null): ReceivedHook[] {
    return match === null
      ? this.received
      : this.received.filter((r) => r.url.includes(match) || r.body.includes(match));
  }
}
