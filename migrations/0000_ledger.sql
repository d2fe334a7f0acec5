CREATE TABLE `accounts` (
	`address` text PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`balance_minor` integer DEFAULT 0 NOT NULL,
	`may_go_negative` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "accounts_protected_non_negative" CHECK("accounts"."may_go_negative" = 1 OR "accounts"."balance_minor" >= 0)
);
--> statement-breakpoint
CREATE TABLE `creators` (
	`user_id` text PRIMARY KEY NOT NULL,
	`display_name` text NOT NULL,
	`platform_share_bps` integer,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "creators_share_range" CHECK("creators"."platform_share_bps" IS NULL OR ("creators"."platform_share_bps" BETWEEN 0 AND 10000))
);
--> statement-breakpoint
CREATE TABLE `gifts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`price_minor` integer NOT NULL,
	`currency` text NOT NULL,
	`tier` text NOT NULL,
	`animation_key` text NOT NULL,
	`enabled` integer NOT NULL,
	`sort_order` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "gifts_price_positive" CHECK("gifts"."price_minor" > 0),
	CONSTRAINT "gifts_tier" CHECK("gifts"."tier" IN ('small', 'medium', 'big', 'epic'))
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`principal_id` text NOT NULL,
	`key` text NOT NULL,
	`request_hash` text NOT NULL,
	`state` text NOT NULL,
	`operation_id` text NOT NULL,
	`locked_until_ms` integer NOT NULL,
	`response_status` integer,
	`response_body` text,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	PRIMARY KEY(`principal_id`, `key`)
);
--> statement-breakpoint
CREATE INDEX `idempotency_keys_expires` ON `idempotency_keys` (`expires_at_ms`);--> statement-breakpoint
CREATE TABLE `leaderboard_entries` (
	`room_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`period` text NOT NULL,
	`period_key` text NOT NULL,
	`viewer_id` text NOT NULL,
	`total_minor` integer NOT NULL,
	`tip_count` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	PRIMARY KEY(`room_id`, `period`, `period_key`, `viewer_id`)
);
--> statement-breakpoint
CREATE INDEX `leaderboard_creator_period` ON `leaderboard_entries` (`period`,`period_key`,`creator_id`);--> statement-breakpoint
CREATE TABLE `operations` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`transfer_count` integer NOT NULL,
	`state` text NOT NULL,
	`actor_id` text NOT NULL,
	`reason` text,
	`metadata` text,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "operations_amount_positive" CHECK("operations"."amount_minor" > 0)
);
--> statement-breakpoint
CREATE INDEX `operations_kind_created` ON `operations` (`kind`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `room_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`payload` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`delivered_at_ms` integer,
	`attempts` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `room_outbox_pending` ON `room_outbox` (`delivered_at_ms`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `rooms` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`title` text NOT NULL,
	`status` text NOT NULL,
	`current_stream_id` text,
	`big_gift_threshold_minor` integer,
	`overlay_key_hash` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "rooms_status" CHECK("rooms"."status" IN ('live', 'offline')),
	CONSTRAINT "rooms_live_has_stream" CHECK("rooms"."status" = 'offline' OR "rooms"."current_stream_id" IS NOT NULL)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rooms_creator` ON `rooms` (`creator_id`);--> statement-breakpoint
CREATE TABLE `streams` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`title` text NOT NULL,
	`started_at_ms` integer NOT NULL,
	`ended_at_ms` integer,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `streams_room_started` ON `streams` (`room_id`,`started_at_ms`);--> statement-breakpoint
CREATE TABLE `tip_presets` (
	`amount_minor` integer PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`sort_order` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tips` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`stream_id` text NOT NULL,
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
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`stream_id`) REFERENCES `streams`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "tips_parts_sum" CHECK("tips"."platform_minor" + "tips"."creator_minor" = "tips"."amount_minor")
);
--> statement-breakpoint
CREATE INDEX `tips_room_created` ON `tips` (`room_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `tips_viewer_created` ON `tips` (`viewer_id`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `transfers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`operation_id` text NOT NULL,
	`from_account` text NOT NULL,
	`to_account` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`currency` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	FOREIGN KEY (`operation_id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`from_account`) REFERENCES `accounts`(`address`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`to_account`) REFERENCES `accounts`(`address`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "transfers_amount_positive" CHECK("transfers"."amount_minor" > 0),
	CONSTRAINT "transfers_distinct_accounts" CHECK("transfers"."from_account" <> "transfers"."to_account")
);
--> statement-breakpoint
CREATE INDEX `transfers_from_id` ON `transfers` (`from_account`,`id`);--> statement-breakpoint
CREATE INDEX `transfers_to_id` ON `transfers` (`to_account`,`id`);--> statement-breakpoint
CREATE INDEX `transfers_operation` ON `transfers` (`operation_id`);