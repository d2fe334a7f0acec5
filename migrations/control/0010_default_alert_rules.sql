-- The default alert rules (src/worker/checks, docs/ARCHITECTURE.md): every check's findings that
-- need a person, sent to every enabled target. Operators change or disable them through
-- /v1/admin/alert-rules; adding a target is what makes them reach anyone.
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000001', 'check failed', 'checks', 'check_failed', 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000002', 'ledger invariant broken', 'ledger', NULL, 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000003', 'red packets: sent < claimed + refunded', 'red-packets', NULL, 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000004', 'payout stuck in paying', 'stuck', 'payout_stuck', 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000005', 'orders stuck open past expiry', 'stuck', 'order_pending_stuck', 1, 'warning', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000006', 'red packet not refunded after expiry', 'stuck', 'packet_refund_overdue', 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000007', 'cross-shard credits undelivered', 'stuck', 'transit_undelivered', 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000008', 'room events undelivered', 'stuck', 'room_event_undelivered', 1, 'warning', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000009', 'payment channel unhealthy', 'channels', 'channel_unhealthy', 1, 'critical', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000010', 'payment channel error rate >= 20 %', 'channels', 'channel_error_rate', 20, 'warning', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000011', 'reconciliation findings left to operators', 'statements', 'reconciliation_unrepaired', 1, 'warning', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000012', 'statement download failed', 'statements', 'statement_download_failed', 1, 'warning', NULL, 1, 'system', 0);
--> statement-breakpoint
INSERT INTO `alert_rules` (`id`, `name`, `check_name`, `kind`, `threshold`, `severity`, `target_ids`, `enabled`, `updated_by`, `updated_at_ms`) VALUES ('arl_00000000000000000000000013', 'statement unreadable', 'statements', 'statement_malformed', 1, 'warning', NULL, 1, 'system', 0);
