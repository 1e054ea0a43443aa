/** Usage errors and strict argument parsing, shared by every command of the command line. */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A usage error: printed with the help hint, exit code 2. */
export class UsageError extends Error {}

/** Parses a command's arguments strictly: an unknown option or a missing value is a usage error. */
export function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
