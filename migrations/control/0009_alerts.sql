CREATE TABLE `alert_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`incident_id` text NOT NULL,
	`event` text NOT NULL,
	`target_id` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`created_at_ms` integer NOT NULL,
	`queued_at_ms` integer,
	`sent_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alert_deliveries_once` ON `alert_deliveries` (`incident_id`,`event`,`target_id`);--> statement-breakpoint
CREATE INDEX `alert_deliveries_target_sent` ON `alert_deliveries` (`target_id`,`sent_at_ms`);--> statement-breakpoint
CREATE INDEX `alert_deliveries_state` ON `alert_deliveries` (`state`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `alert_incidents` (
	`id` text PRIMARY KEY NOT NULL,
	`incident_key` text NOT NULL,
	`rule_id` text NOT NULL,
	`subject` text NOT NULL,
	`severity` text NOT NULL,
	`state` text NOT NULL,
	`summary` text NOT NULL,
	`value` integer NOT NULL,
	`opened_at_ms` integer NOT NULL,
	`resolved_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alert_incidents_one_open` ON `alert_incidents` (`incident_key`) WHERE "alert_incidents"."state" = 'open';--> statement-breakpoint
CREATE INDEX `alert_incidents_state` ON `alert_incidents` (`state`,`opened_at_ms`);--> statement-breakpoint
CREATE TABLE `alert_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`check_name` text NOT NULL,
	`kind` text,
	`threshold` integer NOT NULL,
	`severity` text NOT NULL,
	`target_ids` text,
	`enabled` integer NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `alert_targets` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`sealed` text NOT NULL,
	`key_id` text NOT NULL,
	`url_hint` text NOT NULL,
	`has_secret` integer NOT NULL,
	`rate_per_hour` integer NOT NULL,
	`enabled` integer NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `check_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`check_name` text NOT NULL,
	`started_at_ms` integer NOT NULL,
	`finished_at_ms` integer NOT NULL,
	`status` text NOT NULL,
	`finding_count` integer NOT NULL,
	`findings` text NOT NULL,
	`figures` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `check_runs_latest` ON `check_runs` (`check_name`,`started_at_ms`);