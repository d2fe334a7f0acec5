CREATE TABLE `partner_api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`partner_id` text NOT NULL,
	`mode` text NOT NULL,
	`display_prefix` text NOT NULL,
	`key_hash` text NOT NULL,
	`scopes` text NOT NULL,
	`name` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer,
	`revoked_at_ms` integer,
	`last_used_at_ms` integer,
	CONSTRAINT "partner_api_keys_mode" CHECK("partner_api_keys"."mode" IN ('live', 'test'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `partner_api_keys_hash` ON `partner_api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `partner_api_keys_partner` ON `partner_api_keys` (`partner_id`);--> statement-breakpoint
CREATE TABLE `partner_creators` (
	`partner_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`added_at_ms` integer NOT NULL,
	PRIMARY KEY(`partner_id`, `creator_id`)
);
--> statement-breakpoint
CREATE INDEX `partner_creators_creator` ON `partner_creators` (`creator_id`);--> statement-breakpoint
CREATE TABLE `partner_notices` (
	`id` text PRIMARY KEY NOT NULL,
	`partner_id` text NOT NULL,
	`kind` text NOT NULL,
	`detail` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `partner_notices_partner` ON `partner_notices` (`partner_id`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `partners` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`contact_email` text NOT NULL,
	`status` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "partners_status" CHECK("partners"."status" IN ('active', 'disabled'))
);
--> statement-breakpoint
CREATE TABLE `webhook_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`message_id` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`attempt_no` integer NOT NULL,
	`at_ms` integer NOT NULL,
	`status` integer,
	`duration_ms` integer NOT NULL,
	`outcome` text NOT NULL,
	`error` text,
	`response_body` text
);
--> statement-breakpoint
CREATE INDEX `webhook_attempts_message` ON `webhook_attempts` (`message_id`,`endpoint_id`,`attempt_no`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`message_id` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at_ms` integer,
	`updated_at_ms` integer NOT NULL,
	PRIMARY KEY(`message_id`, `endpoint_id`),
	CONSTRAINT "webhook_deliveries_state" CHECK("webhook_deliveries"."state" IN ('pending', 'succeeded', 'failed'))
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint` ON `webhook_deliveries` (`endpoint_id`,`state`);--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`partner_id` text NOT NULL,
	`url` text NOT NULL,
	`event_types` text NOT NULL,
	`sealed_secrets` text NOT NULL,
	`key_id` text NOT NULL,
	`status` text NOT NULL,
	`disabled_reason` text,
	`failing_since_ms` integer,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "webhook_endpoints_status" CHECK("webhook_endpoints"."status" IN ('active', 'disabled'))
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_partner` ON `webhook_endpoints` (`partner_id`);--> statement-breakpoint
CREATE TABLE `webhook_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`partner_id` text NOT NULL,
	`event_type` text NOT NULL,
	`event_key` text NOT NULL,
	`body` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_messages_event` ON `webhook_messages` (`partner_id`,`event_key`,`event_type`);--> statement-breakpoint
CREATE INDEX `webhook_messages_partner_time` ON `webhook_messages` (`partner_id`,`created_at_ms`);