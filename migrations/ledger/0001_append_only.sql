-- Transfers and posted operations are the ledger's history: never updated, never
-- deleted. Corrections are new transfers. These triggers make that a property of the
-- database rather than a convention of the code.
CREATE TRIGGER `transfers_no_update` BEFORE UPDATE ON `transfers`
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: transfers are immutable');
END;
--> statement-breakpoint
CREATE TRIGGER `transfers_no_delete` BEFORE DELETE ON `transfers`
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: transfers are immutable');
END;
--> statement-breakpoint
-- An operation may move from `posting` to `posted` inside its own batch, and nothing else.
CREATE TRIGGER `operations_no_update` BEFORE UPDATE ON `operations`
WHEN NOT (OLD.state = 'posting' AND NEW.state = 'posted' AND OLD.id = NEW.id AND OLD.amount_minor = NEW.amount_minor
	AND OLD.transfer_count = NEW.transfer_count AND OLD.kind = NEW.kind)
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: operations are immutable once posted');
END;
--> statement-breakpoint
CREATE TRIGGER `operations_no_delete` BEFORE DELETE ON `operations`
BEGIN
	SELECT RAISE(ABORT, 'ledger_append_only: operations are immutable');
END;
--> statement-breakpoint
-- An order's history is append-only, like the ledger's transfers.
CREATE TRIGGER `payment_order_transitions_no_update` BEFORE UPDATE ON `payment_order_transitions`
BEGIN
	SELECT RAISE(ABORT, 'append_only: order transitions are immutable');
END;
--> statement-breakpoint
CREATE TRIGGER `payment_order_transitions_no_delete` BEFORE DELETE ON `payment_order_transitions`
BEGIN
	SELECT RAISE(ABORT, 'append_only: order transitions are immutable');
END;
