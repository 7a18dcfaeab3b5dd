/** OpenAPI paths and schemas of volumes and their files. */
import { error, json, ok, ref } from "./openapi-parts.js";

const volumeParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string" },
  description: "the volume's id (`vol_…`) or name",
};
const pathQuery = {
  name: "path",
  in: "query",
  required: true,
  schema: { type: "string" },
  description: "inside the volume; `..` and paths through a symlink are 400",
};
const notFound = error("volume_not_found, or not_found for a path");
const badPath = error("bad_request: `..`, a symlink on the way, not a file");
const entry = ok("The entry", ref("VolumeEntry"));
const ownerQuery = ["uid", "gid", "mode"].map((name) => ({ name, in: "query", schema: { type: "integer" } }));

export const volumeSchemas = {
  Volume: {
    type: "object",
    required: ["id", "name", "sizeBytes", "createdAt", "mountedBy"],
    properties: {
      id: { type: "string", pattern: "^vol_[a-z2-7]{20}$" },
      name: { type: "string" },
      sizeBytes: { type: "integer", description: "the size limit: writes past it fail with ENOSPC" },
      usedBytes: { type: "integer" },
      createdAt: { type: "string", format: "date-time" },
      mountedBy: { type: "array", items: { type: "string" }, description: "sandboxes that mount it" },
    },
  },
  VolumeMount: {
    type: "object",
    required: ["name", "path"],
    additionalProperties: false,
    properties: {
      name: { type: "string", description: "volume name or id" },
      path: { type: "string", description: "absolute; not /, /tmp, nor at or below /proc, /dev, /sys, /opt/burrow" },
      readOnly: { type: "boolean", default: false },
    },
  },
  VolumeEntry: {
    type: "object",
    required: ["name", "path", "type", "size", "mode", "uid", "gid", "atime", "mtime", "ctime"],
    properties: {
      name: { type: "string" },
      path: { type: "string" },
      type: { type: "string", enum: ["file", "directory", "symlink", "unknown"] },
      size: { type: "integer" },
      mode: { type: "integer" },
      uid: { type: "integer" },
      gid: { type: "integer" },
      atime: { type: "string", format: "date-time" },
      mtime: { type: "string", format: "date-time" },
      ctime: { type: "string", format: "date-time" },
      target: { type: "string", description: "a symlink's target, never followed" },
    },
  },
};

const base = "/v1/volumes/{id}";

export const volumePaths = {
  "/v1/volumes": {
    post: {
      summary: "Create a volume (an ext4 file system of its size limit, sparse on the host)",
      requestBody: {
        required: true,
        ...json({
          type: "object",
          required: ["name"],
          additionalProperties: false,
          properties: {
            name: { type: "string", pattern: "^[a-z0-9][a-z0-9._-]{0,62}$" },
            sizeBytes: { type: "integer", minimum: 16777216, default: 10737418240 },
          },
        }),
      },
      responses: {
        "201": ok("The volume", ref("Volume")),
        "400": error("validation_failed"),
        "409": error("conflict: the name is taken"),
      },
    },
    get: { summary: "Every volume", responses: { "200": ok("`{volumes}`") } },
  },
  [base]: {
    parameters: [volumeParam],
    get: {
      summary: "A volume: size, bytes used, the sandboxes mounting it",
      responses: { "200": ok("The volume", ref("Volume")), "404": notFound },
    },
    delete: {
      summary: "Delete a volume and its files",
      responses: {
        "204": ok("Deleted"),
        "404": notFound,
        "409": error("conflict: mounted by the sandboxes in details.sandboxIds"),
      },
    },
  },
  [`${base}/dir`]: {
    parameters: [volumeParam],
    get: {
      summary: "List a folder (links are listed, not entered)",
      parameters: [
        { ...pathQuery, required: false },
        { name: "depth", in: "query", schema: { type: "integer", default: 1, maximum: 32 } },
      ],
      responses: { "200": ok("`{entries}`"), "400": badPath, "404": notFound },
    },
    post: {
      summary: "Make a folder",
      parameters: [
        pathQuery,
        {
          name: "parents",
          in: "query",
          schema: { type: "boolean" },
          description: "also the folders above; no error if it exists (E2B: force)",
        },
        ...ownerQuery,
      ],
      responses: { "201": entry, "400": badPath, "404": notFound, "409": error("conflict: exists") },
    },
  },
  [`${base}/path`]: {
    parameters: [volumeParam],
    get: {
      summary: "Stat a file, folder or link",
      parameters: [pathQuery],
      responses: { "200": entry, "400": badPath, "404": notFound },
    },
    patch: {
      summary: "Change owner and permission bits",
      parameters: [pathQuery],
      requestBody: json({
        type: "object",
        additionalProperties: false,
        properties: { uid: { type: "integer" }, gid: { type: "integer" }, mode: { type: "integer" } },
      }),
      responses: { "200": entry, "400": badPath, "404": notFound },
    },
    delete: {
      summary: "Remove a file, a link, or a folder with everything in it",
      parameters: [pathQuery],
      responses: { "204": ok("Removed"), "400": badPath, "404": notFound },
    },
  },
  [`${base}/file`]: {
    parameters: [volumeParam],
    get: {
      summary: "Download a file",
      parameters: [pathQuery],
      responses: {
        "200": {
          description: "The bytes",
          content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
        },
        "400": badPath,
        "404": notFound,
      },
    },
    put: {
      summary: "Upload a file (the body is its bytes; missing folders above it are made)",
      parameters: [pathQuery, ...ownerQuery],
      requestBody: {
        required: true,
        content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
      },
      responses: {
        "201": entry,
        "400": badPath,
        "404": notFound,
        "507": error("volume_full: the size limit is reached"),
      },
    },
  },
};
