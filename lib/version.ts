/** The package's own version, the default `X-Personium-Version`. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The version in package.json (lib/ and dist/ both sit one level below it). */
export const PACKAGE_VERSION: string = (require('../package.json') as { version: string }).version;
