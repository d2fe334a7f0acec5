-- A channel's daily statement still not produced on the statements check's last look-back day
-- (src/worker/checks/statements.ts): no later run tries it again, so a person must upload it.
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000014', 'statement overdue (upload it)', 'statements', 'statement_overdue', 1, 'warning', NULL, 1, 'system', 0);
