import { BurrowError, type CreateSandboxRequest, ErrorCode } from "@burrow/core";
import { z } from "zod";

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const CreateSandboxSchema = z
  .object({
    template: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, "must be lowercase letters, digits, '.', '_' or '-' (≤ 63)")
      .optional(),
    env: z
      .record(z.string().regex(envName, "must be a valid environment variable name"), z.string().max(32_768))
      .refine((e) => Object.keys(e).length <= 256, "at most 256 variables")
      .optional(),
    metadata: z
      .record(z.string().min(1).max(64), z.string().max(512))
      .refine((m) => Object.keys(m).length <= 64, "at most 64 entries")
      .optional(),
    resources: z
      .object({
        vcpus: z.number().min(0.1).max(64).optional(),
        memoryMb: z.number().int().min(128).max(262_144).optional(),
        pids: z.number().int().min(16).max(1_048_576).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Validates `body` against `schema`, or throws validation_failed naming the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ field: i.path.join(".") || "(body)", message: i.message }));
  const first = issues[0];
  throw new BurrowError(ErrorCode.ValidationFailed, `invalid request: ${first?.field}: ${first?.message}`, {
    details: { field: first?.field, issues },
  });
}

export function parseCreateSandbox(body: unknown): CreateSandboxRequest {
  return parseBody(CreateSandboxSchema, body) as CreateSandboxRequest;
}

/** Parses `?metadata=k1%3Dv1%26k2%3Dv2` (E2B style) into pairs. */
export function parseMetadataFilter(url: URL): Record<string, string> {
  const filter: Record<string, string> = {};
  for (const raw of url.searchParams.getAll("metadata")) {
    for (const [k, v] of new URLSearchParams(raw)) filter[k] = v;
  }
  return filter;
}
