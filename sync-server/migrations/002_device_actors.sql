-- The automerge actor of the device's store (lowercase hex, 16 bytes), so
-- that a change can be traced to the device that wrote it; one device in
-- good standing per actor. `revoked_reason`: 'supervisor' or 'inactive'.
ALTER TABLE devices ADD COLUMN actor TEXT;
ALTER TABLE devices ADD COLUMN revoked_reason TEXT;
UPDATE devices SET revoked_reason = 'supervisor' WHERE revoked_at IS NOT NULL;
CREATE UNIQUE INDEX devices_by_actor ON devices (actor)
    WHERE actor IS NOT NULL AND revoked_at IS NULL;
