#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: binds a unix datagram socket (a path, or
the abstract namespace when the name starts with '@'), and prints one JSON line per
datagram: {"t": CLOCK_MONOTONIC seconds, "pid": sender pid (SCM_CREDENTIALS),
"fields": {...}}. File descriptors sent along (BARRIER=1 of systemd-notify) are
closed at once, which is how systemd acknowledges a barrier. Node has no unix
datagram sockets, hence Python."""
import json, os, socket, struct, sys, time

name = sys.argv[1]
# Optional: on READY=1, connect to 127.0.0.1:<port> at once and record whether it
# accepted — proof that the listener was up when READY was sent.
probe_port = int(sys.argv[2]) if len(sys.argv) > 2 else None
addr = "\0" + name[1:] if name.startswith("@") else name
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(addr)
print(json.dumps({"listening": name}), flush=True)
fd_size = struct.calcsize("i")
while True:
    data, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")) + socket.CMSG_SPACE(16 * fd_size))
    t = time.monotonic()
    pid = None
    fds = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(len(payload) // fd_size):
                os.close(struct.unpack_from("i", payload, i * fd_size)[0])
                fds += 1
    text = data.decode("utf-8", "replace")
    fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
    out = {"t": t, "pid": pid, "fds": fds, "fields": fields, "raw": text}
    if probe_port and fields.get("READY") == "1":
        try:
            socket.create_connection(("127.0.0.1", probe_port), timeout=2).close()
            out["probe"] = True
        except OSError as e:
            out["probe"] = str(e)
    print(json.dumps(out), flush=True)
