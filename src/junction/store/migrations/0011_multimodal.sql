-- Generated media (docs/multimodal.md): which interaction references which blob. The
-- bytes live in the blob store (files under <data_dir>/media), keyed by their BLAKE3 digest.
CREATE TABLE media (
    project_id      TEXT NOT NULL,
    interaction_id  TEXT NOT NULL,
    digest          TEXT NOT NULL,
    mime_type       TEXT NOT NULL,
    size            BIGINT NOT NULL,
    created         TEXT NOT NULL,
    PRIMARY KEY (project_id, interaction_id, digest)
){{without_rowid}};
CREATE INDEX media_by_digest ON media (digest);
-- Custom voices (REFERENCE 9.6): the voice as stored, per project.
CREATE TABLE voices (
    project_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    data        TEXT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
){{without_rowid}};
