-- Version 2: the log names the device, the person and the client address
-- apart, and refuses updates. Version 1 wrote `who` as "name [device]":
-- split it once, before the table stops taking updates.
ALTER TABLE access_log ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE access_log ADD COLUMN person TEXT NOT NULL DEFAULT '';
ALTER TABLE access_log ADD COLUMN client TEXT NOT NULL DEFAULT '';
UPDATE access_log SET
    person = substr(who, 1, instr(who, ' [') - 1),
    device_id = substr(who, instr(who, ' [') + 2, length(who) - instr(who, ' [') - 2)
WHERE instr(who, ' [') > 0 AND who LIKE '%]';
UPDATE access_log SET person = who WHERE person = '';
CREATE TRIGGER access_log_append_only BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only: its entries cannot be changed');
END;
