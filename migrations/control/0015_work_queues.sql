CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`queue` text NOT NULL,
	`original_queue` text NOT NULL,
	`message_id` text NOT NULL,
	`body` text,
	`body_truncated` integer DEFAULT false NOT NULL,
	`attempts` integer NOT NULL,
	`first_seen_at_ms` integer NOT NULL,
	`last_seen_at_ms` integer NOT NULL,
	`state` text DEFAULT 'open' NOT NULL,
	`decided_by` text,
	`decided_at_ms` integer,
	`note` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_queue_message` ON `dead_letters` (`queue`,`message_id`);--> statement-breakpoint
CREATE INDEX `dead_letters_state_seen` ON `dead_letters` (`state`,`first_seen_at_ms`);--> statement-breakpoint
ALTER TABLE `payment_flags` ADD `resolved_by` text;--> statement-breakpoint
ALTER TABLE `payment_flags` ADD `resolution` text;--> statement-breakpoint
CREATE INDEX `payment_flags_open` ON `payment_flags` (`resolved_at_ms`,`created_at_ms`);--> statement-breakpoint
ALTER TABLE `reconciliation_findings` ADD `resolved_at_ms` integer;--> statement-breakpoint
ALTER TABLE `reconciliation_findings` ADD `resolved_by` text;--> statement-breakpoint
ALTER TABLE `reconciliation_findings` ADD `resolution` text;--> statement-breakpoint
CREATE INDEX `reconciliation_findings_open` ON `reconciliation_findings` (`resolved_at_ms`,`id`);