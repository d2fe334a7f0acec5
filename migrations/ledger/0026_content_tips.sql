-- Tips on content items (issue 19): tips.content_id, room_id/stream_id nullable with a CHECK that a tip has
-- exactly one target; tip_messages likewise. A table rebuild (SQLite cannot drop NOT NULL); nothing references
-- either table and no trigger or view reads them. The new column does not exist in the old tables: NULL is copied.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_tip_messages` (
	`tip_id` text PRIMARY KEY NOT NULL,
	`room_id` text,
	`content_id` text,
	`viewer_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`text` text NOT NULL,
	`shown` text NOT NULL,
	`status` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`reviewed_by` text,
	`reviewed_at_ms` integer,
	CONSTRAINT "tip_messages_status" CHECK("__new_tip_messages"."status" IN ('shown', 'masked', 'held', 'approved', 'rejected'))
);
--> statement-breakpoint
INSERT INTO `__new_tip_messages`("tip_id", "room_id", "content_id", "viewer_id", "creator_id", "text", "shown", "status", "created_at_ms", "reviewed_by", "reviewed_at_ms") SELECT "tip_id", "room_id", NULL, "viewer_id", "creator_id", "text", "shown", "status", "created_at_ms", "reviewed_by", "reviewed_at_ms" FROM `tip_messages`;--> statement-breakpoint
DROP TABLE `tip_messages`;--> statement-breakpoint
ALTER TABLE `__new_tip_messages` RENAME TO `tip_messages`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `tip_messages_status_created` ON `tip_messages` (`status`,`created_at_ms`,`tip_id`);--> statement-breakpoint
CREATE TABLE `__new_tips` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text,
	`stream_id` text,
	`viewer_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`gift_id` text,
	`quantity` integer NOT NULL,
	`amount_minor` integer NOT NULL,
	`big` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`creator_minor` integer NOT NULL,
	`currency` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`platform_bps` integer,
	`schedule_version` integer,
	`content_id` text,
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "tips_parts_sum" CHECK("__new_tips"."platform_minor" + "__new_tips"."creator_minor" = "__new_tips"."amount_minor"),
	CONSTRAINT "tips_target" CHECK(("__new_tips"."room_id" IS NOT NULL AND "__new_tips"."stream_id" IS NOT NULL AND "__new_tips"."content_id" IS NULL) OR ("__new_tips"."room_id" IS NULL AND "__new_tips"."stream_id" IS NULL AND "__new_tips"."content_id" IS NOT NULL))
);
--> statement-breakpoint
INSERT INTO `__new_tips`("id", "room_id", "stream_id", "viewer_id", "creator_id", "gift_id", "quantity", "amount_minor", "big", "platform_minor", "creator_minor", "currency", "created_at_ms", "platform_bps", "schedule_version", "content_id") SELECT "id", "room_id", "stream_id", "viewer_id", "creator_id", "gift_id", "quantity", "amount_minor", "big", "platform_minor", "creator_minor", "currency", "created_at_ms", "platform_bps", "schedule_version", NULL FROM `tips`;--> statement-breakpoint
DROP TABLE `tips`;--> statement-breakpoint
ALTER TABLE `__new_tips` RENAME TO `tips`;--> statement-breakpoint
CREATE INDEX `tips_room_created` ON `tips` (`room_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `tips_viewer_created` ON `tips` (`viewer_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `tips_creator_created` ON `tips` (`creator_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `tips_created` ON `tips` (`created_at_ms`);--> statement-breakpoint
CREATE INDEX `tips_gift` ON `tips` (`gift_id`);--> statement-breakpoint
CREATE INDEX `tips_content_viewer` ON `tips` (`content_id`,`viewer_id`,`amount_minor`);