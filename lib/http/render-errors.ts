/** Renders every error as Personium JSON; anything unexpected becomes `PR500-SV-0000`. */
import type { Context } from 'koa';
import { PersoniumError, isPersoniumError } from '../errors.js';
import { type CommonHeaderOptions, setCommonHeaders } from './cors.js';
import { setHeader } from './set-header.js';
import { findState } from './state.js';

/** Options of {@link respondWithError}. */
export interface RenderErrorOptions extends CommonHeaderOptions {
  /** Receives every unexpected error. */
  readonly onError: (error: unknown, ctx?: Context) => void;
}

/** Writes an error response for `error`. */
export function respondWithError(ctx: Context, error: unknown, options: RenderErrorOptions): void {
  const failure = isPersoniumError(error) ? error : new PersoniumError('PR500-SV-0000', [], { cause: error });
  if (failure.status >= 500) {
    try {
      options.onError(error, ctx);
    } catch {
      // the host's hook must not turn one failure into two
    }
  }
  ctx.status = failure.status;
  for (const [name, value] of Object.entries(failure.headers)) setHeader(ctx, name, value);
  const realm = findState(ctx)?.cellUrl;
  if (failure.status === 401 && realm !== undefined && !ctx.response.get('WWW-Authenticate')) {
    setHeader(ctx, 'WWW-Authenticate', `Bearer realm="${realm}"`);
  }
  setCommonHeaders(ctx, options);
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(failure.toJSON());
}
