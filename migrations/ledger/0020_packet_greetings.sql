CREATE TABLE `packet_greetings` (
	`packet_id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`sender_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`text` text NOT NULL,
	`shown` text NOT NULL,
	`status` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`reviewed_by` text,
	`reviewed_at_ms` integer,
	CONSTRAINT "packet_greetings_status" CHECK("packet_greetings"."status" IN ('held', 'approved', 'rejected'))
);
--> statement-breakpoint
CREATE INDEX `packet_greetings_status_created` ON `packet_greetings` (`status`,`created_at_ms`,`packet_id`);