-- An environment's variables (environment.env of an interaction, REFERENCE 8.2): a JSON
-- object of name -> value, encrypted under the credential key (docs/environments.md).
ALTER TABLE environments ADD COLUMN env_sealed TEXT;
