CREATE TABLE `autopay_settings` (
	`user_id` text PRIMARY KEY NOT NULL,
	`per_tip_max_minor` integer NOT NULL,
	`per_day_max_minor` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
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
CREATE TABLE `payment_refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`state` text NOT NULL,
	`provider_refund_id` text,
	`reason` text NOT NULL,
	`actor_id` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at_ms` integer,
	`failure` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	FOREIGN KEY (`order_id`) REFERENCES `payment_orders`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "payment_refunds_amount_positive" CHECK("payment_refunds"."amount_minor" > 0)
);
--> statement-breakpoint
CREATE INDEX `payment_refunds_order` ON `payment_refunds` (`order_id`);--> statement-breakpoint
CREATE INDEX `payment_refunds_next_attempt` ON `payment_refunds` (`next_attempt_at_ms`);--> statement-breakpoint
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
ALTER TABLE `payment_orders` ADD `method` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `provider_ref` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `payer_step` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `tip_request` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `tip_id` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `tip_outcome` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `query_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `next_query_at_ms` integer;--> statement-breakpoint
CREATE INDEX `payment_orders_next_query` ON `payment_orders` (`next_query_at_ms`);