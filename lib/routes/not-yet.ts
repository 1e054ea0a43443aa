/** The answer of a handler whose issue has not landed yet: 501 `PR501-MC-0001`. */
import { PersoniumError } from '../errors.js';
import type { Handler } from '../http/pipeline.js';

/** A handler that answers 501 until its feature is built. */
export const notYet: Handler = async () => {
  throw new PersoniumError('PR501-MC-0001');
};
