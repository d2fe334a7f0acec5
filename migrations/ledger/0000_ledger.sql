CREATE TABLE `accounts` (
	`address` text PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`balance_minor` integer DEFAULT 0 NOT NULL,
	`may_go_negative` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "accounts_protected_non_negative" CHECK("accounts"."may_go_negative" = 1 OR "accounts"."balance_minor" >= 0)
);
--> statement-breakpoint
CREATE TABLE `autopay_settings` (
	`user_id` text PRIMARY KEY NOT NULL,
	`per_tip_max_minor` integer NOT NULL,
	`per_day_max_minor` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
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
CREATE TABLE `payment_order_transitions` (
	`order_id` text NOT NULL,
	`seq` integer NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`cause` text NOT NULL,
	`ref` text,
	`at_ms` integer NOT NULL,
	PRIMARY KEY(`order_id`, `seq`),
	FOREIGN KEY (`order_id`) REFERENCES `payment_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `payment_orders` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`user_id` text NOT NULL,
	`channel` text NOT NULL,
	`method` text,
	`currency` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`state` text NOT NULL,
	`provider_txn_id` text,
	`refunded_minor` integer DEFAULT 0 NOT NULL,
	`idempotency_key` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`transition_count` integer DEFAULT 1 NOT NULL,
	`provider_ref` text,
	`payer_step` text,
	`tip_request` text,
	`tip_id` text,
	`tip_outcome` text,
	`query_attempts` integer DEFAULT 0 NOT NULL,
	`next_query_at_ms` integer,
	CONSTRAINT "payment_orders_amount_positive" CHECK("payment_orders"."amount_minor" > 0),
	CONSTRAINT "payment_orders_refund_bounded" CHECK("payment_orders"."refunded_minor" >= 0 AND "payment_orders"."refunded_minor" <= "payment_orders"."amount_minor")
);
--> statement-breakpoint
CREATE INDEX `payment_orders_next_query` ON `payment_orders` (`next_query_at_ms`);--> statement-breakpoint
CREATE UNIQUE INDEX `payment_orders_provider_txn` ON `payment_orders` (`channel`,`provider_txn_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `payment_orders_user_key` ON `payment_orders` (`user_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `payment_orders_user_created` ON `payment_orders` (`user_id`,`created_at_ms`);--> statement-breakpoint
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
CREATE TABLE `red_packet_claims` (
	`id` text PRIMARY KEY NOT NULL,
	`packet_id` text NOT NULL,
	`user_id` text NOT NULL,
	`claim_index` integer NOT NULL,
	`amount_minor` integer NOT NULL,
	`claimed_at_ms` integer NOT NULL,
	`credited_at_ms` integer NOT NULL,
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`packet_id`) REFERENCES `red_packets`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "red_packet_claims_positive" CHECK("red_packet_claims"."amount_minor" >= 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `red_packet_claims_one_per_user` ON `red_packet_claims` (`packet_id`,`user_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `red_packet_claims_index` ON `red_packet_claims` (`packet_id`,`claim_index`);--> statement-breakpoint
CREATE INDEX `red_packet_claims_user` ON `red_packet_claims` (`user_id`,`claimed_at_ms`);--> statement-breakpoint
CREATE TABLE `red_packets` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`stream_id` text NOT NULL,
	`sender_id` text NOT NULL,
	`funding` text NOT NULL,
	`subsidy_id` text,
	`campaign_id` text,
	`currency` text NOT NULL,
	`total_minor` integer NOT NULL,
	`shares` integer NOT NULL,
	`split` text NOT NULL,
	`greeting` text NOT NULL,
	`audience` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`status` text NOT NULL,
	`credited_count` integer DEFAULT 0 NOT NULL,
	`credited_minor` integer DEFAULT 0 NOT NULL,
	`final_claim_count` integer,
	`final_claimed_minor` integer,
	`refunded_minor` integer DEFAULT 0 NOT NULL,
	`finished_at_ms` integer,
	`sweep_attempts` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "red_packets_shape" CHECK("red_packets"."shares" >= 1 AND "red_packets"."total_minor" >= "red_packets"."shares"),
	CONSTRAINT "red_packets_credited" CHECK("red_packets"."credited_count" <= "red_packets"."shares" AND "red_packets"."credited_minor" <= "red_packets"."total_minor"),
	CONSTRAINT "red_packets_conserved" CHECK("red_packets"."credited_minor" + "red_packets"."refunded_minor" <= "red_packets"."total_minor"),
	CONSTRAINT "red_packets_funding" CHECK("red_packets"."funding" = 'wallet' OR "red_packets"."subsidy_id" IS NOT NULL)
);
--> statement-breakpoint
CREATE INDEX `red_packets_sender_created` ON `red_packets` (`sender_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `red_packets_room_created` ON `red_packets` (`room_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `red_packets_open_expiry` ON `red_packets` (`status`,`expires_at_ms`);--> statement-breakpoint
CREATE TABLE `subsidies` (
	`id` text PRIMARY KEY NOT NULL,
	`campaign_id` text NOT NULL,
	`external_id` text NOT NULL,
	`user_id` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`status` text NOT NULL,
	`packet_id` text,
	`issued_at_ms` integer NOT NULL,
	`used_at_ms` integer,
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "subsidies_used_has_packet" CHECK("subsidies"."status" = 'issued' OR "subsidies"."packet_id" IS NOT NULL)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subsidies_campaign_external` ON `subsidies` (`campaign_id`,`external_id`);--> statement-breakpoint
CREATE INDEX `subsidies_user_issued` ON `subsidies` (`user_id`,`issued_at_ms`);--> statement-breakpoint
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
CREATE INDEX `transfers_operation` ON `transfers` (`operation_id`);--> statement-breakpoint
CREATE TABLE `transit_outbox` (
	`operation_id` text NOT NULL,
	`destination_shard` integer NOT NULL,
	`operation_kind` text NOT NULL,
	`postings` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`currency` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`delivered_at_ms` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`operation_id`, `destination_shard`),
	FOREIGN KEY (`operation_id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "transit_outbox_amount_positive" CHECK("transit_outbox"."amount_minor" > 0)
);
--> statement-breakpoint
CREATE INDEX `transit_outbox_pending` ON `transit_outbox` (`delivered_at_ms`,`created_at_ms`);--> statement-breakpoint
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