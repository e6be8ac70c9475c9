-- Asset collections (docs/CONTRACT.md §1, "Asset collections"): the asset (a target id) is
-- part of the collection (another target id), from Asset.AddedToCollection until
-- Asset.RemovedFromCollection. Events before this version could not carry the fact, so
-- there is nothing in the log to copy.
CREATE TABLE asset_collections (
    asset      TEXT NOT NULL,
    collection TEXT NOT NULL,
    PRIMARY KEY (asset, collection)
);
