import { partOf } from '../contracts/batch.js';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { DLQ_USAGE } from './usage.js';
import { rm } from 'node:fs/promises';
import { loadConfig } from '../config/load.js';
import type { FerryConfig } from '../config/types.js';
import { createLogger, type Logger } from '../observe/log.js';
import { decompress } from '../codecs/index.js';
import { createSinks } from '../sinks/factory.js';
import { deliver } from '../sinks/retry.js';
import type { Sink } from '../contracts/sink.js';
import { isSinkLevelError, SinkError } from '../sinks/errors.js';
import { dlqDir, storeLimits } from '../dlq/dlq.js';
import { dlqInventory, parseAge, type SinkInventory } from '../dlq/inventory.js';
import { dlqOwner } from '../dlq/owner.js';
import { poisonBatch, removePoison } from '../dlq/poison.js';
import { recoverSink } from '../dlq/recovery.js';
import { SinkDlq } from '../dlq/sink-dlq.js';
import { syncDir } from '../fs/durable.js';
import { errorMessage } from '../util/errors.js';

/** `ferry dlq …`. Exit codes: 0 ok, 1 failed (or not everything shipped), 2 usage. */
export async function dlqCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        sink: { type: 'string' },
        json: { type: 'boolean', default: false },
        payload: { type: 'boolean', default: false },
        poison: { type: 'boolean', default: false },
        'older-than': { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`ferry dlq: ${errorMessage(err)}\n\n${DLQ_USAGE}`);
    return 2;
  }
  const [sub, id] = positionals;
  const { config } = loadConfig(values.config as string | undefined);
  const root = dlqDir(config);
  const sink = values.sink as string | undefined;
  const log = createLogger(config.log.level, process.stderr);
  switch (sub) {
    case 'ls':
      return ls(await dlqInventory(root, sink), values.json === true);
    case 'inspect':
      if (!id) break;
      return inspect(await dlqInventory(root, sink), id, values.payload === true);
    case 'replay':
      return values.poison
        ? replayPoison(config, root, sink, log)
        : replaySegments(config, root, sink, log);
    case 'purge': {
      const older = values['older-than'] as string | undefined;
      if (!older) {
        process.stderr.write(`ferry dlq purge: --older-than is required (e.g. 7d)\n`);
        return 2;
      }
      let ms: number;
      try {
        ms = parseAge(older);
      } catch (err) {
        process.stderr.write(`ferry dlq purge: ${errorMessage(err)}\n`);
        return 2;
      }
      return purge(root, sink, ms, values.poison === true, log);
    }
  }
  process.stderr.write(
    `ferry dlq: unknown or incomplete command "${positionals.join(' ')}"\n\n${DLQ_USAGE}`,
  );
  return 2;
}

function ls(inv: SinkInventory[], json: boolean): number {
  const rows = inv.map((s) => ({
    sink: s.sink,
    dir: s.dir,
    files: s.segments.length,
    bytes: s.segments.reduce((n, f) => n + f.bytes, 0),
    batches: s.segments.reduce((n, f) => n + f.records.length, 0),
    events: s.segments.reduce((n, f) => n + f.records.reduce((m, r) => m + r.head.events, 0), 0),
    oldest: oldestOf(s),
    corrupt_records: s.segments.reduce((n, f) => n + f.corrupt, 0),
    poison_batches: s.poison.length,
    poison_events: s.poison.reduce((n, p) => n + p.meta.events, 0),
    quarantined_files: s.quarantined.length,
  }));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('DLQ is empty\n');
    return 0;
  }
  for (const r of rows) {
    process.stdout.write(
      `${r.sink}: ${r.events} events in ${r.batches} batches, ${r.files} files, ${r.bytes} bytes${r.oldest ? `, oldest ${r.oldest}` : ''}; poison: ${r.poison_batches} batches (${r.poison_events} events); quarantined: ${r.quarantined_files} files${r.corrupt_records ? `; ${r.corrupt_records} corrupt records (quarantined at next start)` : ''}\n  ${r.dir}\n`,
    );
  }
  return 0;
}

function oldestOf(s: SinkInventory): string | undefined {
  const t = Math.min(...s.segments.flatMap((f) => f.records.map((r) => r.head.spooled_at)));
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined;
}

async function inspect(inv: SinkInventory[], id: string, payload: boolean): Promise<number> {
  let found = 0;
  for (const s of inv) {
    for (const f of s.segments) {
      const whole = f.file === id || f.path === id;
      for (const r of f.records) {
        if (!whole && r.head.batch !== id) continue;
        found++;
        process.stdout.write(
          JSON.stringify({ where: 'segment', file: f.path, offset: r.offset, ...r.head }) + '\n',
        );
        if (payload) {
          const { readFile } = await import('node:fs/promises');
          const bytes = new Uint8Array(await readFile(f.path)).subarray(
            r.offset,
            r.offset + r.length,
          );
          const { payloadOf } = await import('../dlq/frame.js');
          process.stdout.write(decompress(r.head.codec, payloadOf(bytes), 1 << 30));
        }
      }
    }
    for (const p of s.poison) {
      if (p.meta.batch !== id) continue;
      found++;
      process.stdout.write(
        JSON.stringify({ where: 'poison', file: p.payloadPath, ...p.meta }) + '\n',
      );
      if (payload) {
        const b = await poisonBatch(p);
        const part = partOf(b, p.meta.part);
        process.stdout.write(decompress(part.codec, part.body, 1 << 30));
      }
    }
  }
  if (found === 0) {
    process.stderr.write(`ferry dlq inspect: no batch or segment file "${id}" in the DLQ\n`);
    return 1;
  }
  return 0;
}

async function sinksFor(
  config: FerryConfig,
  only: string | undefined,
  log: Logger,
): Promise<Sink[] | undefined> {
  const sinks = (await createSinks(config, log)).filter((s) => !only || s.name === only);
  if (only && sinks.length === 0) {
    process.stderr.write(`ferry dlq: no sink named "${only}" in the config\n`);
    return undefined;
  }
  return sinks;
}

async function refuseIfRunning(root: string, what: string): Promise<boolean> {
  const pid = await dlqOwner(root);
  if (pid === undefined) return false;
  process.stderr.write(
    `ferry dlq ${what}: ferry (pid ${pid}) is running and owns ${root}; it re-uploads the DLQ by itself (see dlq_events_current). Stop it first to ${what} segments by hand (--poison works while it runs).\n`,
  );
  return true;
}

async function replaySegments(
  config: FerryConfig,
  root: string,
  only: string | undefined,
  log: Logger,
): Promise<number> {
  if (await refuseIfRunning(root, 'replay')) return 1;
  const sinks = await sinksFor(config, only, log);
  if (!sinks) return 2;
  let shipped = 0;
  let left = 0;
  for (const sink of sinks) {
    const d = new SinkDlq(sink, `${root}/${sink.name}`, storeLimits(config), 1, log, {
      dropped: () => {},
      expiredFile: () => {},
      changed: () => {},
    });
    const rec = await recoverSink(sink.name, d.dir, log);
    d.store.adopt(rec.segments);
    for (const r of d.store.pendingRecords()) {
      try {
        const receipt = await deliver(sink, await d.batchOf(r), config.retry);
        await d.store.complete(r);
        shipped += r.head.events;
        process.stdout.write(
          `DLQ → ${sink.name} success: ${receipt.location} events=${r.head.events}\n`,
        );
      } catch (err) {
        const e =
          err instanceof SinkError
            ? err
            : new SinkError(errorMessage(err), { retryable: true, errorClass: 'internal' });
        if (!e.retryable && !isSinkLevelError(e)) {
          const where = await d.poison(await d.batchOf(r), e);
          await d.store.complete(r);
          process.stdout.write(
            `DLQ → ${sink.name} refused (${e.message}): moved to poison ${where}\n`,
          );
        } else {
          left += r.head.events;
          process.stderr.write(`DLQ → ${sink.name} failed: ${e.message}\n`);
          break; // the sink is down: the rest waits, oldest first
        }
      }
    }
    await d.store.close();
  }
  await Promise.allSettled(sinks.map((s) => s.close()));
  process.stdout.write(
    `replayed ${shipped} events; ${left > 0 ? 'some left in the DLQ (sink still failing)' : 'DLQ segments done'}\n`,
  );
  return left > 0 ? 1 : 0;
}

async function replayPoison(
  config: FerryConfig,
  root: string,
  only: string | undefined,
  log: Logger,
): Promise<number> {
  const sinks = await sinksFor(config, only, log);
  if (!sinks) return 2;
  const byName = new Map(sinks.map((s) => [s.name, s]));
  let shipped = 0;
  let failed = 0;
  for (const inv of await dlqInventory(root, only)) {
    const sink = byName.get(inv.sink);
    if (!sink) {
      if (inv.poison.length)
        process.stderr.write(
          `ferry dlq replay: sink "${inv.sink}" is not in the config; its ${inv.poison.length} poison batches stay\n`,
        );
      continue;
    }
    for (const p of inv.poison) {
      try {
        const receipt = await deliver(sink, await poisonBatch(p), config.retry);
        await removePoison(p);
        shipped += p.meta.events;
        process.stdout.write(
          `poison → ${sink.name} success: ${receipt.location} events=${p.meta.events}\n`,
        );
      } catch (err) {
        failed += p.meta.events;
        process.stderr.write(
          `poison → ${sink.name} refused again: ${errorMessage(err)} (kept: ${p.metaPath})\n`,
        );
      }
    }
  }
  await Promise.allSettled(sinks.map((s) => s.close()));
  process.stdout.write(`replayed ${shipped} poison events; ${failed} still refused\n`);
  return failed > 0 ? 1 : 0;
}

async function purge(
  root: string,
  only: string | undefined,
  olderMs: number,
  poisonOnly: boolean,
  log: Logger,
): Promise<number> {
  const cutoff = Date.now() - olderMs;
  if (!poisonOnly && (await refuseIfRunning(root, 'purge'))) return 1;
  let events = 0;
  let files = 0;
  for (const inv of await dlqInventory(root, only)) {
    if (!poisonOnly) {
      for (const f of inv.segments) {
        const newest = Math.max(...f.records.map((r) => r.head.spooled_at));
        // A file goes only when all it holds is older than the cutoff (an empty/damaged one too).
        if (Number.isFinite(newest) && newest >= cutoff) continue;
        const n = f.records.reduce((m, r) => m + r.head.events, 0);
        await rm(f.path, { force: true });
        await syncDir(inv.dir);
        events += n;
        files++;
        log.error({ sink: inv.sink, file: f.path, events: n }, `DLQ purge → removed=${f.path}`);
        process.stdout.write(`removed ${f.path} (${n} events)\n`);
      }
    }
    for (const p of inv.poison) {
      if (Date.parse(p.meta.poisoned_at) >= cutoff) continue;
      await removePoison(p);
      events += p.meta.events;
      files++;
      process.stdout.write(`removed poison ${p.metaPath} (${p.meta.events} events)\n`);
    }
  }
  process.stdout.write(`purged ${files} files, ${events} events\n`);
  return 0;
}
