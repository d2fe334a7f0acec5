/**
 * Operators' inbox templates: every (kind, locale) with the template in force (the operators'
 * row or the built-in default) and the placeholders it may use; replacing one. A template is
 * checked against its kind's variables before it is stored (`template_variable_unknown`), and
 * takes effect at once for every message in every inbox (templates render at read time).
 */

import { OpenAPIHono, z } from "@hono/zod-openapi";
import { putTemplate, templatesFor } from "../../db/inbox";
import { LIMITS } from "../../domain/limits";
import { NOTICE_KINDS, NOTICE_LOCALES, templateVariables, validateTemplate } from "../../domain/notices";
import { operatorAction } from "../audit";
import type { AppEnv } from "../context";
import { ApiError } from "../errors";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import { defineRoute } from "./define";

const TemplateSchema = z
  .object({
    kind: z.enum(NOTICE_KINDS),
    locale: z.enum(NOTICE_LOCALES),
    title: z.string(),
    body: z.string(),
    source: z.enum(["default", "override"]),
    variables: z
      .array(z.string())
      .openapi({ description: "The placeholders this kind's templates may use, as {name}." }),
    updatedBy: z.string().nullable(),
    updatedAtMs: z.number().int().nullable(),
  })
  .openapi("NotificationTemplate");

const TemplateUpdate = z
  .strictObject({
    title: z.string().min(1).max(LIMITS.noticeTemplateTitleMaxLength),
    body: z.string().min(1).max(LIMITS.noticeTemplateBodyMaxLength),
  })
  .openapi("NotificationTemplateUpdate", {
    example: { title: "Tips this minute", body: "{gifts} gifts, {amount} in the last minute" },
  });

const Params = z.object({
  kind: z.enum(NOTICE_KINDS).openapi({ param: { name: "kind", in: "path" }, example: "tips_merged" }),
  locale: z.enum(NOTICE_LOCALES).openapi({ param: { name: "locale", in: "path" }, example: "en" }),
});

export const notificationTemplates = new OpenAPIHono<AppEnv>();

notificationTemplates.openapi(
  defineRoute({
    method: "get",
    path: "/admin/notification-templates",
    auth: { permission: "template.read" },
    tags: ["operators"],
    summary: "Every inbox template in force, per kind and locale, with its placeholders",
    responses: {
      200: jsonResponse(z.object({ items: z.array(TemplateSchema) }), "The templates"),
      ...errorResponses(401, 403),
    },
  }),
  async (c) => {
    const items = [];
    for (const locale of NOTICE_LOCALES) {
      const views = await templatesFor(c.var.ledger.control, locale);
      for (const kind of NOTICE_KINDS) {
        const view = views.get(kind);
        if (view) items.push({ ...view, variables: templateVariables(kind) });
      }
    }
    return c.json({ items }, 200);
  },
);

notificationTemplates.openapi(
  defineRoute({
    method: "put",
    path: "/admin/notification-templates/{kind}/{locale}",
    auth: { permission: "template.edit" },
    tags: ["operators"],
    summary: "Replace an inbox template",
    description:
      "Placeholders are `{name}` with a name from the kind's `variables`; any other is refused with " +
      "422 `template_variable_unknown` and nothing is stored.",
    request: { params: Params, body: jsonBody(TemplateUpdate) },
    responses: { 200: jsonResponse(TemplateSchema, "Saved"), ...errorResponses(400, 401, 403, 422) },
  }),
  async (c) => {
    const { kind, locale } = c.req.valid("param");
    const checked = validateTemplate(kind, c.req.valid("json"));
    if (!checked.ok) throw ApiError.from(checked);
    const actorId = c.var.principal.userId;
    const before = (await templatesFor(c.var.ledger.control, locale)).get(kind);
    const audit = operatorAction(c, {
      action: "notification_template.set",
      target: `${kind}/${locale}`,
      before: before === undefined ? null : { title: before.title, body: before.body },
      after: { title: checked.value.title, body: checked.value.body },
    });
    await putTemplate(c.var.ledger.control, kind, locale, checked.value, actorId, Date.now(), audit);
    c.var.log.info("notification_template_set", { kind, locale, actorId });
    const view = (await templatesFor(c.var.ledger.control, locale)).get(kind);
    if (!view) throw new ApiError("internal_error");
    return c.json({ ...view, variables: templateVariables(kind) }, 200);
  },
);
