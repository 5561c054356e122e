import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText, ConfigError } from '../../src/config/load.js';
import { kafkaSasl, kafkaTls } from '../../src/sources/kafka/client.js';

const base = 'kafka:\n  enabled: true\n  topics: [t]\n';

function issuesOf(text: string, env: Record<string, string> = {}) {
  try {
    parseConfigText(text, 'ferry.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('kafka.sasl and kafka.tls', () => {
  it('SASL is off by default; a mechanism needs a username and a password (from the environment)', () => {
    const cfg = parseConfigText(base, 'ferry.yaml', {});
    expect(cfg.kafka.sasl.mechanism).toBe('none');
    expect(kafkaSasl(cfg.kafka.sasl)).toBeUndefined();
    expect(kafkaTls(cfg.kafka.tls)).toBe(false);
    const text = `${base}  sasl:\n    mechanism: scram-sha-512\n    username: ferry\n`;
    expect(issuesOf(text)).toEqual([
      'kafka.sasl.password: needed for SASL scram-sha-512 (give it as FERRY_KAFKA__SASL__PASSWORD)',
    ]);
    const cfg2 = parseConfigText(text, 'ferry.yaml', { FERRY_KAFKA__SASL__PASSWORD: 's3cret' });
    expect(kafkaSasl(cfg2.kafka.sasl)).toEqual({
      mechanism: 'scram-sha-512',
      username: 'ferry',
      password: 's3cret',
    });
    expect(issuesOf(`${base}  sasl:\n    mechanism: kerberos\n`)[0]).toMatch(
      /kafka\.sasl\.mechanism/,
    );
  });

  it('TLS files are read (relative to the config file) and must be PEM; cert and key go together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-ktls-'));
    writeFileSync(
      join(dir, 'ca.pem'),
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    );
    writeFileSync(join(dir, 'junk.pem'), 'not pem');
    const file = join(dir, 'ferry.yaml');
    const tls = (body: string) => `${base}  tls:\n    enabled: true\n${body}`;
    const cfg = parseConfigText(tls('    ca: ca.pem\n    servername: kafka.example\n'), file, {});
    expect(kafkaTls(cfg.kafka.tls)).toMatchObject({
      rejectUnauthorized: true,
      servername: 'kafka.example',
      ca: [expect.stringContaining('BEGIN CERTIFICATE')],
    });
    expect(() => parseConfigText(tls('    ca: junk.pem\n'), file, {})).toThrow(/not a PEM file/);
    expect(() => parseConfigText(tls('    ca: missing.pem\n'), file, {})).toThrow(/cannot read/);
    expect(() => parseConfigText(tls('    cert: ca.pem\n'), file, {})).toThrow(
      /cert and key go together/,
    );
  });
});
