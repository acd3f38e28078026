-- Blob bytes move out of the database into files named by their hash (src/store/blob-files.ts).
-- A row keeps what the blob is; `on_disk` says where its bytes are. Rows written before this
-- migration keep their bytes in `data` and are read from there until the node moves them to disk.
ALTER TABLE blobs ALTER COLUMN data DROP NOT NULL;
ALTER TABLE blobs ADD COLUMN on_disk boolean NOT NULL DEFAULT false;
ALTER TABLE blobs ADD CONSTRAINT blobs_bytes_in_one_place CHECK (on_disk = (data IS NULL));
CREATE INDEX blobs_in_database ON blobs (hash) WHERE NOT on_disk;
