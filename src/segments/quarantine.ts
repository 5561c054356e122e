import { basename, join } from 'node:path';
import { atomicWrite, mkdirDurable } from '../fs/durable.js';

/**
 * Keep bytes a segment store (a DLQ, the write-ahead log) cannot use (a corrupt record, unframeable garbage) in
 * `<store dir>/quarantine/<segment>@<offset>.bad`, durably, before the segment forgets them: an
 * operator can inspect them (`ferry dlq ls` counts them), nothing is silently thrown away.
 */
export async function quarantineBytes(
  sinkDir: string,
  segmentPath: string,
  offset: number,
  bytes: Uint8Array,
): Promise<string> {
  const qdir = join(sinkDir, 'quarantine');
  await mkdirDurable(qdir);
  const name = join(qdir, `${basename(segmentPath)}@${offset}.bad`);
  await atomicWrite(name, bytes);
  return name;
}
