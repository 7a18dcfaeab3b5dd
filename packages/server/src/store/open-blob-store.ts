import { type BlobStore, LocalBlobStore } from "./blob-store.js";
import type { BlobStoreConfig } from "./blob-url.js";
import { S3BlobStore } from "./s3-blob-store.js";

/** The blob store BURROW_BLOB_URL chose: the local directory (default) or an S3 bucket. */
export function openBlobStore(config: BlobStoreConfig): BlobStore {
  return config.kind === "s3" ? S3BlobStore.fromConfig(config) : new LocalBlobStore(config.dir);
}
