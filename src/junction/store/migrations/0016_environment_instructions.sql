-- An environment's system instruction: added to every run in the environment (layered
-- after the agent's and the request's instructions, before AGENTS.md; docs/environments.md).
ALTER TABLE environments ADD COLUMN system_instruction TEXT;
