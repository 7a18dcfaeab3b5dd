import { BurrowError } from "@burrow/core";
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConflictError,
  FileNotFoundError,
  InvalidArgumentError,
  NotFoundError,
  SandboxNotFoundError,
  TimeoutError,
  translateError,
  UnavailableError,
} from "../src/errors.js";

describe("translateError", () => {
  it("reads Burrow REST error bodies", () => {
    const body = JSON.stringify({ error: { code: "sandbox_not_found", message: "no sb_x", details: { id: "sb_x" } } });
    const err = translateError({ status: 404, body });
    expect(err).toBeInstanceOf(SandboxNotFoundError);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: "sandbox_not_found", message: "no sb_x", details: { id: "sb_x" } });
  });

  it("reads Connect unary errors and keeps the rpc code", () => {
    const err = translateError({ status: 404, body: '{"code":"not_found","message":"no file"}' }, "file");
    expect(err).toBeInstanceOf(FileNotFoundError);
    expect(err).toMatchObject({ code: "not_found", details: { rpcCode: "not_found" } });
    const exists = translateError({ status: 409, body: '{"code":"already_exists","message":"x"}' });
    expect(exists).toBeInstanceOf(ConflictError);
    expect(translateError({ status: 504, body: '{"code":"deadline_exceeded"}' })).toBeInstanceOf(TimeoutError);
  });

  it("reads envd /files errors", () => {
    const err = translateError({ status: 404, body: '{"code":404,"message":"path does not exist"}' }, "file");
    expect(err).toBeInstanceOf(FileNotFoundError);
    expect(err.message).toBe("path does not exist");
    expect(translateError({ status: 401, body: '{"code":401,"message":"unknown user"}' })).toBeInstanceOf(
      AuthenticationError,
    );
  });

  it("falls back to the status and body text", () => {
    const err = translateError({ status: 502, body: "Bad Gateway" });
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ code: "sandbox_unreachable", message: "Bad Gateway" });
    expect(translateError({ status: 400, body: "" }).message).toBe("request failed with HTTP 400");
    expect(translateError({ status: 400 })).toBeInstanceOf(InvalidArgumentError);
  });

  it("re-types a decoded end-of-stream error for its subject", () => {
    const plain = new BurrowError("not_found", "gone", { details: { rpcCode: "not_found" } });
    const err = translateError({ error: plain }, "sandbox");
    expect(err).toBeInstanceOf(SandboxNotFoundError);
    expect(err.details).toEqual({ rpcCode: "not_found" });
  });
});
