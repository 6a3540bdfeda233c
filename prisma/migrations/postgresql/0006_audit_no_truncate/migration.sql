-- Append-only also against TRUNCATE (row triggers do not fire for it).
CREATE TRIGGER "AuditEvent_no_truncate" BEFORE TRUNCATE ON "AuditEvent" FOR EACH STATEMENT EXECUTE FUNCTION vdi_audit_append_only();
