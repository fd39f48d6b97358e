#!/usr/bin/env python3
"""The conformance suite's controllable peer.

A raw-socket program that tells the truth about the wire: it sends FIN with
shutdown(SHUT_WR), RST with SO_LINGER (1, 0) then close(), drips bytes, stays
silent, and reports what it received and how the stream ended (eof or reset).

Protocol: one JSON object per line on stdin, {"id": N, "op": "...", ...}; one
JSON reply per line on stdout, {"id": N, ...} or {"id": N, "error": "..."}.
Commands run on their own threads, so a blocking recv does not hold the others.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

out_lock = threading.Lock()
sockets = {}
stats = {}
next_handle = [0]
handle_lock = threading.Lock()


def reply(message):
    with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def register(sock):
    with handle_lock:
        next_handle[0] += 1
        handle = next_handle[0]
        sockets[handle] = sock
        stats[handle] = {"sent": 0}
    return handle


def payload(cmd):
    """The bytes a command sends: explicit base64 `data`, or `size` pseudo-random bytes."""
    if "data" in cmd:
        return base64.b64decode(cmd["data"])
    if "text" in cmd:
        return cmd["text"].encode()
    return os.urandom(cmd["size"])


def error_name(exc):
    import errno
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "reset"
    if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
        return "epipe"
    if isinstance(exc, socket.timeout):
        return "timeout"
    return type(exc).__name__


def op_listen(cmd):
    if "path" in cmd:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(cmd["path"])
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cmd.get("host", "127.0.0.1"), cmd.get("port", 0)))
    sock.listen(cmd.get("backlog", 128))
    handle = register(sock)
    port = sock.getsockname()[1] if "path" not in cmd else 0
    return {"listener": handle, "port": port}


def op_accept(cmd):
    listener = sockets[cmd["listener"]]
    listener.settimeout(cmd.get("timeout_ms", 10000) / 1000)
    conn, _ = listener.accept()
    conn.settimeout(None)
    return {"conn": register(conn)}


def op_connect(cmd):
    if "path" in cmd:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = cmd["path"]
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (cmd.get("host", "127.0.0.1"), cmd["port"])
    if "rcvbuf" in cmd:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cmd["rcvbuf"])
    sock.settimeout(cmd.get("timeout_ms", 10000) / 1000)
    sock.connect(target)
    sock.settimeout(None)
    return {"conn": register(sock)}


def rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def op_send(cmd):
    """Sends bytes, then optionally ends with `then`: "fin", "rst" or "close"."""
    sock = sockets[cmd["conn"]]
    data = payload(cmd)
    chunk = cmd.get("chunk", 65536)
    st = stats[cmd["conn"]]
    error = None
    try:
        for offset in range(0, len(data), chunk):
            sock.sendall(data[offset:offset + chunk])
            st["sent"] += len(data[offset:offset + chunk])
    except OSError as exc:
        error = error_name(exc)
    then = cmd.get("then")
    if then == "fin":
        sock.shutdown(socket.SHUT_WR)
    elif then == "rst":
        rst(sock)
    elif then == "close":
        sock.close()
    result = {"sent": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if error:
        result["sendError"] = error
        result["sentBeforeError"] = st["sent"]
    return result


def op_drip(cmd):
    """Sends `data` one piece of `piece` bytes every `interval_ms`."""
    sock = sockets[cmd["conn"]]
    data = payload(cmd)
    piece = cmd.get("piece", 1)
    for offset in range(0, len(data), piece):
        sock.sendall(data[offset:offset + piece])
        time.sleep(cmd["interval_ms"] / 1000)
    return {"sent": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def op_fin(cmd):
    sockets[cmd["conn"]].shutdown(socket.SHUT_WR)
    return {}


def op_rst(cmd):
    rst(sockets[cmd["conn"]])
    return {}


def op_close(cmd):
    sockets.pop(cmd["conn"]).close()
    return {}


def op_stats(cmd):
    return dict(stats[cmd["conn"]])


def op_recv(cmd):
    """Reads until `count` bytes, EOF, reset, or `timeout_ms` of waiting; reports what and how."""
    sock = sockets[cmd["conn"]]
    want = cmd.get("count")
    deadline = time.monotonic() + cmd.get("timeout_ms", 10000) / 1000
    digest = hashlib.sha256()
    received = bytearray()
    total = 0
    end = "count"
    while want is None or total < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            end = "timeout"
            break
        sock.settimeout(remaining)
        try:
            limit = 65536 if want is None else min(65536, want - total)
            data = sock.recv(limit)
        except socket.timeout:
            end = "timeout"
            break
        except OSError as exc:
            end = error_name(exc)
            break
        if not data:
            end = "eof"
            break
        digest.update(data)
        total += len(data)
        if len(received) < 1 << 20:
            received.extend(data)
    sock.settimeout(None)
    return {
        "length": total,
        "sha256": digest.hexdigest(),
        "end": end,
        "data": base64.b64encode(bytes(received)).decode() if total <= 1 << 20 else None,
    }


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def run(cmd):
    try:
        result = OPS[cmd["op"]](cmd)
        result["id"] = cmd["id"]
        reply(result)
    except Exception as exc:  # reported to the test, which fails with it
        reply({"id": cmd["id"], "error": "%s: %s" % (type(exc).__name__, exc)})


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        threading.Thread(target=run, args=(json.loads(line),), daemon=True).start()


if __name__ == "__main__":
    main()
