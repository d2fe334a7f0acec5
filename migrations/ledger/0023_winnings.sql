CREATE TABLE `user_winnings` (
	`user_id` text PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`withdrawable_minor` integer DEFAULT 0 NOT NULL,
	`claimed_minor` integer DEFAULT 0 NOT NULL,
	`withdrawn_minor` integer DEFAULT 0 NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "user_winnings_withdrawable_non_negative" CHECK("user_winnings"."withdrawable_minor" >= 0),
	CONSTRAINT "user_winnings_claimed_non_negative" CHECK("user_winnings"."claimed_minor" >= 0),
	CONSTRAINT "user_winnings_withdrawn_non_negative" CHECK("user_winnings"."withdrawn_minor" >= 0)
);
--> statement-breakpoint
ALTER TABLE `withdrawals` ADD `owner_kind` text DEFAULT 'creator' NOT NULL;--> statement-breakpoint
-- Top-ups are spent first (docs/adr/0017): whenever a user's wallet goes below its
-- withdrawable part, the part comes down to the balance. One trigger covers every writer of
-- the wallet (operations, the set-based tip group, bucket moves), inside the writer's batch.
-- `user:` is 5 characters and `:wallet` 7, so the id is substr(address, 6, length − 12).
CREATE TRIGGER `user_winnings_follow_wallet` AFTER UPDATE OF `balance_minor` ON `accounts`
WHEN NEW.`balance_minor` < OLD.`balance_minor` AND NEW.`address` LIKE 'user:%:wallet'
BEGIN
	UPDATE `user_winnings` SET `withdrawable_minor` = MAX(NEW.`balance_minor`, 0)
	WHERE `user_id` = substr(NEW.`address`, 6, length(NEW.`address`) - 12)
	  AND `withdrawable_minor` > NEW.`balance_minor`;
END;
