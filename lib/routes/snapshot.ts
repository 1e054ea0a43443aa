/** The snapshot area's resources (`docs/protocol.md`, The snapshot area): `__snapshot` and `__snapshot/{name}`. */
import type { MethodTable } from '../http/pipeline.js';
import type { RouteDeps } from './deps.js';
import { propfindCollection, propfindFile } from './snapshot-propfind.js';
import { getFile, headFile } from './snapshot-read.js';
import { deleteFile, putFile } from './snapshot-write.js';

/** `{CellURL}__snapshot`: PROPFIND (OPTIONS comes from the pipeline). */
export function snapshotCollectionRoutes(deps: RouteDeps): MethodTable {
  return { PROPFIND: propfindCollection(deps) };
}

/** `{CellURL}__snapshot/{name}`: GET, HEAD, PUT, DELETE, PROPFIND (OPTIONS and REPORT from the pipeline). */
export function snapshotRoutes(deps: RouteDeps): MethodTable {
  return {
    GET: getFile(deps),
    HEAD: headFile(deps),
    PUT: putFile(deps),
    DELETE: deleteFile(deps),
    PROPFIND: propfindFile(deps),
  };
}
