-- The operator directory never loses its last active admin (issue 15): revoking admin from,
-- disabling or deleting the last active admin aborts the statement, and with it the batch.
-- In the database itself, so no path — API, script or hand-written SQL — can lock every
-- operator out. A fresh directory (no admin yet) is bootstrapped by inserting, never refused.
CREATE TRIGGER operator_roles_keep_an_admin
AFTER DELETE ON operator_roles
WHEN OLD.role = 'admin' AND NOT EXISTS (
  SELECT 1 FROM operators o JOIN operator_roles r ON r.operator_id = o.id
   WHERE o.status = 'active' AND r.role = 'admin')
BEGIN
  SELECT RAISE(ABORT, 'last_admin');
END;
--> statement-breakpoint
CREATE TRIGGER operators_keep_an_admin_status
AFTER UPDATE OF status ON operators
WHEN OLD.status = 'active' AND NEW.status <> 'active'
  AND EXISTS (SELECT 1 FROM operator_roles WHERE operator_id = NEW.id AND role = 'admin')
  AND NOT EXISTS (
    SELECT 1 FROM operators o JOIN operator_roles r ON r.operator_id = o.id
     WHERE o.status = 'active' AND r.role = 'admin')
BEGIN
  SELECT RAISE(ABORT, 'last_admin');
END;
--> statement-breakpoint
CREATE TRIGGER operators_keep_an_admin_delete
AFTER DELETE ON operators
WHEN OLD.status = 'active'
  AND EXISTS (SELECT 1 FROM operator_roles WHERE operator_id = OLD.id AND role = 'admin')
  AND NOT EXISTS (
    SELECT 1 FROM operators o JOIN operator_roles r ON r.operator_id = o.id
     WHERE o.status = 'active' AND r.role = 'admin' AND o.id <> OLD.id)
BEGIN
  SELECT RAISE(ABORT, 'last_admin');
END;
