'use strict';
/**
 * Runs s3rver (npm) for the tests: `node s3rver-main.cjs <directory> <bucket>`; listens on a free
 * loopback port and prints `{"port":N}` once it answers.
 *
 * One change to s3rver, in how it lays keys out on its disk, not in the protocol: s3rver stores an
 * object as a file named after the key's last segment plus `._S3rver_object`, so a segment longer
 * than about 240 bytes cannot be stored (ENAMETOOLONG), where S3 takes keys of up to 1,024 bytes.
 * Segments over 200 bytes are kept on disk under `&L` and their SHA-256, remembered by this process.
 */
const { createHash } = require('node:crypto');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) throw new Error('usage: s3rver-main.cjs <directory> <bucket>');

const LONG = 200;
const longSegments = new Map();
FilesystemStore.encodeKeyPath = (key) =>
  key
    .split('/')
    .map((segment) => {
      if (Buffer.byteLength(segment) <= LONG) return segment;
      const stored = `&L${createHash('sha256').update(segment).digest('hex')}`;
      longSegments.set(stored, segment);
      return stored;
    })
    .join('/');
FilesystemStore.decodeKeyPath = (keyPath) =>
  keyPath
    .split('/')
    .map((segment) => longSegments.get(segment) ?? segment)
    .join('/');

const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] });
server.run().then(
  ({ port }) => process.stdout.write(`${JSON.stringify({ port })}\n`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
