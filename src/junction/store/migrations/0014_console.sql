-- Filtered listings (the console's interaction list): newest first within a project and
-- one status, model or agent, so a filter is a range scan on 100,000s of rows. The time
-- range is an id range (ids begin with their creation time), so it needs no index of its own.
CREATE INDEX interactions_by_status ON interactions (project_id, status, id);
CREATE INDEX interactions_by_model ON interactions (project_id, model, id);
CREATE INDEX interactions_by_agent ON interactions (project_id, agent, id);
