-- Archival (src/db/archive, docs/ARCHIVAL.md): transfers and operations stay append-only,
-- except that rows an archive holds may leave once that archive is verified (its files
-- re-read from R2 and every digest matched). Updates stay refused without exception.
--
-- A transfer may be deleted only inside a run of a verified (or pruned) archive. Runs are
-- disjoint, so the one that could hold it is the run starting at or below it nearest to it.
DROP TRIGGER `transfers_no_delete`;
--> statement-breakpoint
CREATE TRIGGER `transfers_no_delete` BEFORE DELETE ON `transfers`
WHEN NOT EXISTS (
	SELECT 1 FROM (
		SELECT `archive_id`, `to_transfer_id` FROM `ledger_archive_ranges`
		WHERE `from_transfer_id` <= OLD.`id` ORDER BY `from_transfer_id` DESC LIMIT 1
	) AS `run` JOIN `ledger_archives` AS `archive` ON `archive`.`id` = `run`.`archive_id`
	WHERE `run`.`to_transfer_id` >= OLD.`id` AND `archive`.`state` IN ('verified', 'pruned')
)
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: transfers are immutable');
END;
--> statement-breakpoint
-- An operation may be deleted only once none of its transfers is left: every operation has at
-- least one transfer (its amount is positive and equals their sum), and transfers leave only
-- under a verified archive, which holds their operation whole.
DROP TRIGGER `operations_no_delete`;
--> statement-breakpoint
CREATE TRIGGER `operations_no_delete` BEFORE DELETE ON `operations`
WHEN EXISTS (SELECT 1 FROM `transfers` WHERE `operation_id` = OLD.`id`)
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: operations are immutable');
END;
