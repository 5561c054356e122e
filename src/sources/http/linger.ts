import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

/**
 * The lingering close of HTTP servers: after answering early (413, 431, 408) on a
 * connection the client is still writing to, close our side, then keep reading and
 * discarding for a bounded time and amount before the socket goes. Closing at once
 * leaves the client's bytes unread, the kernel answers them with a reset, and a client
 * that writes its request in one go sees ECONNRESET/EPIPE instead of our status.
 */
export const LINGER_MS = 2000;
export const LINGER_BYTES = 64 * 1024 * 1024;

/** Sockets already lingering: node:http reports each later chunk as a new parse error. */
const lingering = new WeakSet<Socket>();

export function lingeringClose(socket: Socket): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  const readBefore = socket.bytesRead;
  const done = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  // unref: a lingering client never holds the process open (shutdown, issue 18).
  const timer = setTimeout(done, LINGER_MS);
  timer.unref?.();
  socket.on('data', () => {
    if (socket.bytesRead - readBefore > LINGER_BYTES) done();
  });
  socket.once('end', done);
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', done);
  socket.end();
  socket.resume();
}

/** The answers node:http's own default would give for a request it could not parse. */
const CLIENT_ERRORS: Record<string, [number, string, string, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'headers_too_large',
    'request headers exceed the server limit',
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'Request Timeout',
    'request_timeout',
    'the request was not received in time (http.timeouts)',
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    413,
    'Payload Too Large',
    'body_too_large',
    'chunk extensions exceed the server limit',
  ],
};

/**
 * node:http's 'clientError' handler: the same statuses as its default, with a JSON
 * body like ferry's other errors, and a lingering close instead of an immediate destroy.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  const s = socket as Socket & { _httpMessage?: { headersSent?: boolean } };
  // Answered already: the parser, still attached, fails again on every chunk that follows.
  if (lingering.has(socket)) return;
  if (err.code === 'ECONNRESET' || !socket.writable || s._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, text, error, message] = CLIENT_ERRORS[err.code ?? ''] ?? [
    400,
    'Bad Request',
    'bad_request',
    'the request could not be parsed as HTTP/1.1',
  ];
  const body = JSON.stringify({ error, message });
  socket.write(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  lingeringClose(socket);
}
