CREATE TABLE `payment_flags` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`channel` text NOT NULL,
	`order_id` text,
	`notification_id` text,
	`detail` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`resolved_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_flags_notification_kind` ON `payment_flags` (`notification_id`,`kind`);--> statement-breakpoint
CREATE TABLE `payment_notifications` (
	`id` text PRIMARY KEY NOT NULL,
	`channel` text NOT NULL,
	`event_id` text,
	`verified` integer NOT NULL,
	`refusal` text,
	`headers` text NOT NULL,
	`body_base64` text NOT NULL,
	`outcome` text,
	`received_at_ms` integer NOT NULL,
	`applied_at_ms` integer,
	`retain_until_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_notifications_event` ON `payment_notifications` (`channel`,`event_id`) WHERE "payment_notifications"."verified" = 1;--> statement-breakpoint
CREATE INDEX `payment_notifications_retain` ON `payment_notifications` (`retain_until_ms`);--> statement-breakpoint
CREATE TABLE `payment_order_transitions` (
	`order_id` text NOT NULL,
	`seq` integer NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`cause` text NOT NULL,
	`ref` text,
	`at_ms` integer NOT NULL,
	PRIMARY KEY(`order_id`, `seq`),
	FOREIGN KEY (`order_id`) REFERENCES `payment_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `payment_orders` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`user_id` text NOT NULL,
	`channel` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`state` text NOT NULL,
	`provider_txn_id` text,
	`refunded_minor` integer DEFAULT 0 NOT NULL,
	`idempotency_key` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`transition_count` integer DEFAULT 1 NOT NULL,
	CONSTRAINT "payment_orders_amount_positive" CHECK("payment_orders"."amount_minor" > 0),
	CONSTRAINT "payment_orders_refund_bounded" CHECK("payment_orders"."refunded_minor" >= 0 AND "payment_orders"."refunded_minor" <= "payment_orders"."amount_minor")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_orders_provider_txn` ON `payment_orders` (`channel`,`provider_txn_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `payment_orders_user_key` ON `payment_orders` (`user_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `payment_orders_user_created` ON `payment_orders` (`user_id`,`created_at_ms`);--> statement-breakpoint
-- Hand-written: an order's history is append-only, like the ledger's transfers.
CREATE TRIGGER `payment_order_transitions_no_update` BEFORE UPDATE ON `payment_order_transitions`
BEGIN
	SELECT RAISE(ABORT, 'append_only: order transitions are immutable');
END;
--> statement-breakpoint
CREATE TRIGGER `payment_order_transitions_no_delete` BEFORE DELETE ON `payment_order_transitions`
BEGIN
	SELECT RAISE(ABORT, 'append_only: order transitions are immutable');
END;
