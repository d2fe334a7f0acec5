CREATE TABLE `operator_roles` (
	`operator_id` text NOT NULL,
	`role` text NOT NULL,
	`granted_by` text NOT NULL,
	`granted_at_ms` integer NOT NULL,
	PRIMARY KEY(`operator_id`, `role`),
	CONSTRAINT "operator_roles_role" CHECK("operator_roles"."role" IN ('admin', 'finance', 'ops', 'support', 'risk', 'auditor'))
);
--> statement-breakpoint
CREATE TABLE `operators` (
	`id` text PRIMARY KEY NOT NULL,
	`display_name` text NOT NULL,
	`email` text,
	`service_client_id` text,
	`status` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "operators_status" CHECK("operators"."status" IN ('active', 'disabled'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operators_email` ON `operators` (`email`) WHERE "operators"."email" IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `operators_service_client` ON `operators` (`service_client_id`) WHERE "operators"."service_client_id" IS NOT NULL;--> statement-breakpoint
CREATE TABLE `proposals` (
	`id` text PRIMARY KEY NOT NULL,
	`permission` text NOT NULL,
	`summary` text NOT NULL,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`body` text,
	`state` text NOT NULL,
	`proposer_id` text NOT NULL,
	`idempotency_key` text,
	`request_id` text NOT NULL,
	`proposed_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`decider_id` text,
	`decided_at_ms` integer,
	`decision_reason` text,
	`result_status` integer,
	`result_body` text,
	CONSTRAINT "proposals_state" CHECK("proposals"."state" IN ('pending', 'approved', 'executed', 'failed', 'rejected', 'withdrawn', 'expired'))
);
--> statement-breakpoint
CREATE INDEX `proposals_state` ON `proposals` (`state`,`proposed_at_ms`);--> statement-breakpoint
CREATE UNIQUE INDEX `proposals_proposer_key` ON `proposals` (`proposer_id`,`idempotency_key`) WHERE "proposals"."idempotency_key" IS NOT NULL;