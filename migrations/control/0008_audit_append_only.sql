-- The audit log (src/db/audit.ts) is append-only in the database, not by convention: an entry
-- must be the next one after the head and link to the head's hash, and no entry is ever
-- updated or deleted. The hashes themselves are computed in the Worker (SQLite has no
-- SHA-256); `npm run audit:verify` and GET /v1/admin/audit/verify recompute them.
CREATE TRIGGER `audit_log_links` BEFORE INSERT ON `audit_log`
WHEN NEW.`seq` IS NOT (SELECT COALESCE(MAX(`seq`), 0) + 1 FROM `audit_log`)
	OR NEW.`prev_hash` IS NOT COALESCE(
		(SELECT `hash` FROM `audit_log` WHERE `seq` = NEW.`seq` - 1),
		'0000000000000000000000000000000000000000000000000000000000000000'
	)
BEGIN
	SELECT RAISE(ABORT, 'audit_log_append_only: an entry must follow and link to the head');
END;
--> statement-breakpoint
CREATE TRIGGER `audit_log_no_update` BEFORE UPDATE ON `audit_log`
BEGIN
	SELECT RAISE(ABORT, 'audit_log_append_only: entries are immutable');
END;
--> statement-breakpoint
CREATE TRIGGER `audit_log_no_delete` BEFORE DELETE ON `audit_log`
BEGIN
	SELECT RAISE(ABORT, 'audit_log_append_only: entries are immutable');
END;
