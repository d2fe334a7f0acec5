CREATE INDEX `accounts_user_wallets_created` ON `accounts` (`created_at_ms`,`address`) WHERE address LIKE 'user:%:wallet';--> statement-breakpoint
CREATE INDEX `payment_orders_created` ON `payment_orders` (`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `payment_refunds_created` ON `payment_refunds` (`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `withdrawals_created` ON `withdrawals` (`created_at_ms`,`id`);