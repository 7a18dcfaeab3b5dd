/** Small builders the OpenAPI path modules share. */
export const json = (schema: Record<string, unknown>) => ({ content: { "application/json": { schema } } });
export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const ok = (description: string, schema?: Record<string, unknown>) => ({
  description,
  ...(schema ? json(schema) : {}),
});
export const error = (description: string) => ({ description, ...json(ref("Error")) });
