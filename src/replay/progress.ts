/** Progress of a replay: a bar on a terminal, one JSON line per step otherwise (for journald, CI). */
export interface ProgressState {
  objectsDone: number;
  objectsTotal: number;
  eventsDone: number;
  bytesDone: number;
  bytesTotal: number;
  skipped: number;
  key?: string;
}

export interface Progress {
  update(s: ProgressState): void;
  done(s: ProgressState, outcome: string): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    let last = 0;
    const draw = (s: ProgressState, force: boolean) => {
      const now = Date.now();
      if (!force && now - last < 200) return;
      last = now;
      const share =
        s.bytesTotal > 0
          ? s.bytesDone / s.bytesTotal
          : s.objectsTotal > 0
            ? s.objectsDone / s.objectsTotal
            : 1;
      const width = 30;
      const full = Math.round(share * width);
      stream.write(
        `\r[${'#'.repeat(full)}${' '.repeat(width - full)}] ${(share * 100).toFixed(0).padStart(3)}%  objects ${s.objectsDone}/${s.objectsTotal}  events ${s.eventsDone}  skipped ${s.skipped}   `,
      );
    };
    return {
      update: (s) => draw(s, false),
      done: (s, outcome) => {
        draw(s, true);
        stream.write(`\n${outcome}\n`);
      },
    };
  }
  const line = (o: object) =>
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...o }) + '\n');
  return {
    update: (s) => line({ msg: 'replay progress', ...s }),
    done: (s, outcome) => line({ msg: outcome, ...s }),
  };
}
