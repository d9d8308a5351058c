/** Engine ids as the protocol allows them: 1 to 128 letters, digits and `. _ : -`. */
export const ENGINE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const ENGINE_ID_RULE = '1 to 128 letters, digits and . _ : -';

/** Why `id` cannot be an engine id, or undefined when it can. */
export function engineIdProblem(id: unknown): string | undefined {
  if (typeof id === 'string' && ENGINE_ID_PATTERN.test(id)) return undefined;
  return `invalid engine id ${JSON.stringify(id)}: use ${ENGINE_ID_RULE}`;
}
