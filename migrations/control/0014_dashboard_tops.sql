CREATE TABLE `dashboard_tops` (
	`currency` text NOT NULL,
	`grain` text NOT NULL,
	`period` text NOT NULL,
	`kind` text NOT NULL,
	`rank` integer NOT NULL,
	`key` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`tip_count` integer NOT NULL,
	PRIMARY KEY(`grain`, `period`, `currency`, `kind`, `rank`)
);
