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