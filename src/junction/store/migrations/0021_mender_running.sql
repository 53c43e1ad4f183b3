-- The interaction of a code-mender session that works in its environment now: a session
-- runs one interaction at a time (concurrent ones would mix their patches).
ALTER TABLE code_mender_sessions ADD COLUMN running_interaction TEXT;
