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
CREATE UNIQUE INDEX `operators_service_client` ON `operators` (`service_client_id`) WHERE "operators"."service_client_id" IS NOT NULL;