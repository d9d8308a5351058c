/**
 * A command id names one command: its name and arguments. The engine runs an id at most once and answers
 * a repeat with the first answer; an id given again for a different command is refused with this code,
 * on both sides, and never gets the first command's answer.
 */
export const ID_REUSED = 'id-reused';

/** What makes two commands the same command: their name and arguments. */
export function commandFingerprint(name: string, args: unknown): string {
  return JSON.stringify([name, args ?? null]);
}

/** Why a command sent under an id already used for another command was not run. */
export function idReusedMessage(id: string, firstName: string, name: string): string {
  const first = firstName === name ? `another "${name}" command (other arguments)` : `"${firstName}"`;
  return `command id ${JSON.stringify(id)} was already used for ${first}; "${name}" was not run: give each new command a new id`;
}
