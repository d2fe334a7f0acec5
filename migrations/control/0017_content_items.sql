CREATE TABLE `content_items` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`kind` text NOT NULL,
	`title` text NOT NULL,
	`price_minor` integer,
	`currency` text NOT NULL,
	`status` text NOT NULL,
	`partner_id` text,
	`external_ref` text,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "content_items_kind" CHECK("content_items"."kind" IN ('article', 'video', 'post', 'live_room')),
	CONSTRAINT "content_items_status" CHECK("content_items"."status" IN ('active', 'archived')),
	CONSTRAINT "content_items_price" CHECK("content_items"."price_minor" IS NULL OR "content_items"."price_minor" > 0)
);
--> statement-breakpoint
CREATE INDEX `content_items_creator` ON `content_items` (`creator_id`,`id`);--> statement-breakpoint
CREATE INDEX `content_items_partner` ON `content_items` (`partner_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `content_items_external_ref` ON `content_items` (`partner_id`,`external_ref`) WHERE "content_items"."external_ref" IS NOT NULL;