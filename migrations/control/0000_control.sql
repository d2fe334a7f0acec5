CREATE TABLE `channel_calls` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel` text NOT NULL,
	`op` text NOT NULL,
	`ok` integer NOT NULL,
	`detail` text,
	`at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `channel_calls_channel_at` ON `channel_calls` (`channel`,`at_ms`);--> statement-breakpoint
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
CREATE TABLE `ledger_buckets` (
	`bucket` integer PRIMARY KEY NOT NULL,
	`shard` integer NOT NULL,
	`move_phase` text,
	`move_to_shard` integer,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "ledger_buckets_bucket_range" CHECK("ledger_buckets"."bucket" >= 0 AND "ledger_buckets"."bucket" < 1024),
	CONSTRAINT "ledger_buckets_move_whole" CHECK(("ledger_buckets"."move_phase" IS NULL) = ("ledger_buckets"."move_to_shard" IS NULL))
);
--> statement-breakpoint
CREATE TABLE `payment_flags` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`channel` text NOT NULL,
	`order_id` text,
	`notification_id` text,
	`detail` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`resolved_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_flags_notification_kind` ON `payment_flags` (`notification_id`,`kind`);--> statement-breakpoint
CREATE TABLE `payment_notifications` (
	`id` text PRIMARY KEY NOT NULL,
	`channel` text NOT NULL,
	`event_id` text,
	`verified` integer NOT NULL,
	`refusal` text,
	`headers` text NOT NULL,
	`body_base64` text NOT NULL,
	`outcome` text,
	`received_at_ms` integer NOT NULL,
	`applied_at_ms` integer,
	`retain_until_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_notifications_event` ON `payment_notifications` (`channel`,`event_id`) WHERE "payment_notifications"."verified" = 1;--> statement-breakpoint
CREATE INDEX `payment_notifications_retain` ON `payment_notifications` (`retain_until_ms`);--> statement-breakpoint
CREATE TABLE `reconciliation_findings` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`kind` text NOT NULL,
	`order_id` text,
	`provider_ref` text,
	`ours_amount_minor` integer,
	`theirs_amount_minor` integer,
	`ours_status` text,
	`theirs_status` text,
	`repair` text NOT NULL,
	`repair_outcome` text,
	`detail` text NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `reconciliation_runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `reconciliation_findings_run` ON `reconciliation_findings` (`run_id`);--> statement-breakpoint
CREATE TABLE `reconciliation_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`channel` text NOT NULL,
	`statement_date` text NOT NULL,
	`source_sha256` text NOT NULL,
	`lines` integer NOT NULL,
	`matched` integer NOT NULL,
	`findings` integer NOT NULL,
	`repaired` integer NOT NULL,
	`actor_id` text NOT NULL,
	`started_at_ms` integer NOT NULL,
	`finished_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `reconciliation_runs_channel_date` ON `reconciliation_runs` (`channel`,`statement_date`);--> statement-breakpoint
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
	`ended_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `streams_room_started` ON `streams` (`room_id`,`started_at_ms`);--> statement-breakpoint
CREATE TABLE `subsidy_campaigns` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`currency` text NOT NULL,
	`budget_minor` integer NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tip_presets` (
	`amount_minor` integer PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`sort_order` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `room_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`payload` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`delivered_at_ms` integer,
	`attempts` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `room_outbox_pending` ON `room_outbox` (`delivered_at_ms`,`created_at_ms`);