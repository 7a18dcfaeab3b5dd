export * from "./checkpoint.js";
export * from "./envd/index.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./logger.js";
export * from "./network.js";
export * from "./preview.js";
export * from "./sandbox.js";
