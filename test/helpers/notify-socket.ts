import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface NotifyMessage {
  /** Receive time, CLOCK_MONOTONIC seconds (the same clock as MONOTONIC_USEC). */
  t: number;
  /** Sender pid from SCM_CREDENTIALS. */
  pid: number | null;
  fds: number;
  fields: Record<string, string>;
  raw: string;
  /** On READY=1 with a probe port: true when the port accepted a connection, else the error. */
  probe?: true | string;
}

export interface NotifySocket {
  /** The value for $NOTIFY_SOCKET. */
  address: string;
  messages: NotifyMessage[];
  /** Resolves with the first message (index ≥ from) matching pred. */
  waitFor(
    pred: (m: NotifyMessage) => boolean,
    timeoutMs: number,
    from?: number,
  ): Promise<NotifyMessage>;
  close(): void;
}

/** A real unix datagram socket the test listens on (python3: node:dgram has no AF_UNIX). */
export async function listenNotifySocket(
  address: string,
  probePort?: number,
): Promise<NotifySocket> {
  const args = [
    join(import.meta.dirname, 'notify-listener.py'),
    address,
    ...(probePort ? [String(probePort)] : []),
  ];
  const proc: ChildProcess = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.on('exit', (c) => reject(new Error(`notify listener exited ${c}: ${err}`)));
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const o = JSON.parse(buf.slice(0, nl)) as NotifyMessage & { listening?: string };
        buf = buf.slice(nl + 1);
        if (o.listening) resolve();
        else {
          messages.push(o);
          for (const w of waiters) w();
        }
      }
    });
  });
  return {
    address,
    messages,
    waitFor(pred, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.slice(from).find(pred);
          if (!m) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching notify message in ${timeoutMs} ms; got:\n${messages.map((m) => JSON.stringify(m.fields)).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => void proc.kill('SIGKILL'),
  };
}
