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
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE no action,
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
	FOREIGN KEY (`campaign_id`) REFERENCES `subsidy_campaigns`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "subsidies_used_has_packet" CHECK("subsidies"."status" = 'issued' OR "subsidies"."packet_id" IS NOT NULL)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subsidies_campaign_external` ON `subsidies` (`campaign_id`,`external_id`);--> statement-breakpoint
CREATE INDEX `subsidies_user_issued` ON `subsidies` (`user_id`,`issued_at_ms`);--> statement-breakpoint
CREATE TABLE `subsidy_campaigns` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`currency` text NOT NULL,
	`budget_minor` integer NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	FOREIGN KEY (`id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action
);
