export * from "./base64.js";
export * from "./connect.js";
export * from "./envelope.js";
export * from "./filesystem.js";
export * from "./process.js";
