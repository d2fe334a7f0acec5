CREATE TABLE `tip_messages` (
	`tip_id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`viewer_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`text` text NOT NULL,
	`shown` text NOT NULL,
	`status` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`reviewed_by` text,
	`reviewed_at_ms` integer,
	CONSTRAINT "tip_messages_status" CHECK("tip_messages"."status" IN ('shown', 'masked', 'held', 'approved', 'rejected'))
);
--> statement-breakpoint
CREATE INDEX `tip_messages_status_created` ON `tip_messages` (`status`,`created_at_ms`,`tip_id`);