/*
 * ferry's sd_notify addon: one function, send(socketPath, message), that writes
 * one datagram to a unix socket — the protocol of sd_notify(3) without linking
 * libsystemd (edge VMs and build machines need not have its headers).
 *
 * socketPath is $NOTIFY_SOCKET: a filesystem path, or an abstract-namespace
 * name when it starts with '@' (the '@' becomes the leading NUL byte).
 * Plain N-API (version 3), so the same .node loads in Node, Bun and Deno.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 3
#endif
#include <node_api.h>

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE 4096

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "sd_notify: %s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return -1;
  if (napi_get_value_string_utf8(env, v, buf, cap, len) != napi_ok) return -1;
  /* A result that filled the buffer was truncated. */
  return *len + 1 >= cap ? -2 : 0;
}

/* send(socketPath: string, message: string): number — bytes sent; throws on failure. */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "sd_notify: send(socketPath, message) takes two strings");
    return NULL;
  }
  struct sockaddr_un addr;
  char path[sizeof addr.sun_path + 1];
  char message[MAX_MESSAGE];
  size_t path_len = 0, message_len = 0;
  int r = get_string(env, argv[0], path, sizeof path, &path_len);
  if (r == -1 || path_len == 0) {
    napi_throw_type_error(env, NULL, "sd_notify: socketPath must be a non-empty string");
    return NULL;
  }
  if (r == -2 || path_len > sizeof addr.sun_path) {
    napi_throw_range_error(env, NULL, "sd_notify: socketPath is longer than sun_path");
    return NULL;
  }
  if (path[0] != '/' && path[0] != '@') {
    napi_throw_range_error(env, NULL, "sd_notify: socketPath must be absolute or start with '@'");
    return NULL;
  }
  r = get_string(env, argv[1], message, sizeof message, &message_len);
  if (r == -1) {
    napi_throw_type_error(env, NULL, "sd_notify: message must be a string");
    return NULL;
  }
  if (r == -2) {
    napi_throw_range_error(env, NULL, "sd_notify: message is longer than 4095 bytes");
    return NULL;
  }

  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, path_len);
  socklen_t addr_len;
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  } else {
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
    if (path_len == sizeof addr.sun_path) addr_len--; /* exactly full: no room for the NUL */
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  ssize_t sent;
  do {
    sent = sendto(fd, message, message_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent < 0) return throw_errno(env, "sendto", err);

  napi_value out;
  napi_create_int64(env, (int64_t)sent, &out);
  return out;
}

/*
 * monotonicUsec(): number — CLOCK_MONOTONIC in microseconds, for RELOADING=1's
 * MONOTONIC_USEC= (systemd compares it with its own clock; Bun's and Deno's
 * process.hrtime are not CLOCK_MONOTONIC). A double holds it exactly for 285 years of uptime.
 */
static napi_value MonotonicUsec(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return throw_errno(env, "clock_gettime", errno);
  napi_value out;
  napi_create_double(env, (double)ts.tv_sec * 1e6 + (double)(ts.tv_nsec / 1000), &out);
  return out;
}

static int export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) != napi_ok) return -1;
  return napi_set_named_property(env, exports, name, fn) == napi_ok ? 0 : -1;
}

static napi_value Init(napi_env env, napi_value exports) {
  if (export_fn(env, exports, "send", Send) != 0) return NULL;
  if (export_fn(env, exports, "monotonicUsec", MonotonicUsec) != 0) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
