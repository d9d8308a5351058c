/**
 * A numeric option of a script (`--name value`): undefined when absent; when it is not a number of at
 * least `min` (or not a whole number, for `whole`), the script says so with its usage and exits 2.
 */
export function numberOption(
  value: string | undefined,
  name: string,
  min: number,
  usage: string,
  whole = false,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (whole && !Number.isInteger(n))) {
    process.stderr.write(
      `--${name} must be a ${whole ? 'whole ' : ''}number >= ${min} (got "${value}")\n\n${usage}`,
    );
    process.exit(2);
  }
  return n;
}
