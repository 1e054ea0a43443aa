/**
 * Buffer sizes of the file streams on the data path. Node's defaults (64 KiB for file reads, 16 KiB
 * for zlib output) cost one system call or thread-pool round trip per few dozen
 * kilobytes; a snapshot moves hundreds of megabytes, so its streams use larger buffers. Each stream
 * holds at most about this much, whatever the snapshot's size.
 */

/** Bytes per read of a file stream, and per output chunk of inflate. */
export const READ_CHUNK_BYTES = 256 * 1024;
