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
import ssl
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
    if isinstance(exc, TlsTruncated):
        return "truncated"
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
    if "rcvbuf" in cmd:
        # Accepted connections inherit it: a peer that never reads stalls our writes sooner.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cmd["rcvbuf"])
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


def op_burst(cmd):
    """`count` connections to host:port, opened one right after the other, each sending `data`
    (base64) as soon as it is connected: a burst the server accepts before it reads any of it."""
    data = payload(cmd)
    handles = []
    for _ in range(cmd["count"]):
        sock = socket.create_connection((cmd.get("host", "127.0.0.1"), cmd["port"]), timeout=10)
        sock.settimeout(None)
        sock.sendall(data)
        handles.append(register(sock))
    return {"conns": handles}


def rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def op_send(cmd):
    """Sends bytes, then optionally ends with `then`: "fin", "rst", "close" or, over TLS,
    "close_notify" (close_notify then FIN) or "forged_record" (a record that does not decrypt);
    over TLS "fin" is the TCP FIN alone, a truncation."""
    sock = sockets[cmd["conn"]]
    chunk = cmd.get("chunk", 65536)
    st = stats[cmd["conn"]]
    error = None
    digest = hashlib.sha256()
    if "fill" in cmd:
        # `size` copies of one byte, sent without holding them all (a 1 GiB line).
        total = cmd["size"]
        pieces = (bytes([cmd["fill"]]) * min(chunk, total - offset) for offset in range(0, total, chunk))
    else:
        data = payload(cmd)
        total = len(data)
        pieces = (data[offset:offset + chunk] for offset in range(0, total, chunk))
    try:
        for piece in pieces:
            sock.sendall(piece)
            digest.update(piece)
            st["sent"] += len(piece)
    except OSError as exc:
        error = error_name(exc)
    then = cmd.get("then")
    if then == "close_notify":
        sock.close_notify()
        sock.shutdown(socket.SHUT_WR)
    elif then == "fin":
        sock.shutdown(socket.SHUT_WR)
    elif then == "rst":
        rst(sock)
    elif then == "close":
        sock.close()
    elif then == "forged_record":
        # An application_data record nobody encrypted, written beneath the TLS layer: what a
        # corrupted or tampered stream looks like. The connection stays open.
        sock.raw.sendall(bytes([0x17, 0x03, 0x03, 0x00, 0x20]) + b"A" * 32)
    result = {"sent": total, "sha256": digest.hexdigest()}
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
    """Reads until `count` bytes, EOF, reset, or `timeout_ms` of waiting; reports what and how.
    With `say`, sends that text once `say_after` bytes came, and reads on."""
    sock = sockets[cmd["conn"]]
    want = cmd.get("count")
    say = cmd.get("say")
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
        if say is not None and total >= cmd.get("say_after", 0):
            sock.sendall(say.encode())
            say = None
        if len(received) < 1 << 20:
            received.extend(data)
    sock.settimeout(None)
    result = {
        "length": total,
        "sha256": digest.hexdigest(),
        "end": end,
        "data": base64.b64encode(bytes(received)).decode() if total <= 1 << 20 else None,
    }
    if cmd.get("await_fin") and end == "eof":
        result["fin_at"] = await_tcp_fin(getattr(sock, "raw", sock), deadline)
    return result


def await_tcp_fin(raw, deadline):
    """When the TCP FIN behind a TLS close_notify came (the FIN itself over plain TCP), in ms since
    the epoch, to compare with the test's own clock; None if none came by the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        raw.settimeout(remaining)
        try:
            if not raw.recv(65536):
                return time.time() * 1000
        except socket.timeout:
            return None
        except OSError:
            return None


STORM_SCENARIOS = ["fin", "rst", "halfclose", "silence", "drip", "connrst", "longline"]


def storm_one(host, port, index, seed, idle_ms, forced=None):
    """One scripted connection of the fault storm; returns the truth of what it did."""
    import random
    rng = random.Random(seed * 1_000_003 + index)
    scenario = STORM_SCENARIOS[rng.randrange(len(STORM_SCENARIOS))]
    # A source address of its own (127.x.y.z, all local) names the connection uniquely:
    # ports are reused within a storm as soon as a reset frees them.
    source = "127.%d.%d.%d" % (1 + index // 65536 % 250, index // 256 % 256, index % 256)
    if forced is not None:
        scenario = forced
    if scenario in ("neverread", "teardown"):
        # A tiny receive window, set before the SYN: the server's writes stall at once.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        sock.bind((source, 0))
        sock.connect((host, port))
    else:
        sock = socket.create_connection((host, port), timeout=30, source_address=(source, 0))
    truth = {"host": source, "port": sock.getsockname()[1], "scenario": scenario}

    def data_of(n):
        return b"B" + rng.randbytes(n - 1) if n > 0 else b""

    def read_to_end(timeout):
        sock.settimeout(timeout)
        got = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return got, "eof"
                got += chunk
        except socket.timeout:
            return got, "timeout"
        except OSError as exc:
            return got, error_name(exc)

    try:
        if scenario in ("fin", "halfclose", "drip"):
            data = data_of(rng.randrange(1, 65536 if scenario != "drip" else 40))
            if scenario == "drip":
                for i in range(len(data)):
                    sock.sendall(data[i:i + 1])
                    time.sleep(0.01)
            else:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            reply, end = read_to_end(10)
            truth.update(sent=len(data), sha256=hashlib.sha256(data).hexdigest(), reply=reply.decode(errors="replace"), peer_end=end)
            sock.close()
        elif scenario == "rst":
            data = data_of(rng.randrange(1, 65536))
            sock.sendall(data)
            rst(sock)
            truth.update(sent=len(data), data=base64.b64encode(data).decode())
        elif scenario == "silence":
            sock.sendall(b"B" * rng.randrange(1, 100))
            _, end = read_to_end(idle_ms * 6 / 1000)
            truth.update(peer_end=end)
            sock.close()
        elif scenario == "connrst":
            rst(sock)
        elif scenario == "neverread":
            # Never reads while the server writes; sends a byte every 100 ms (so the server's
            # idle timer sees traffic) until a send fails or 4 s pass, then reads what is left.
            sock.sendall(b"W")
            send_end = None
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                time.sleep(0.1)
                try:
                    sock.send(b".")
                except OSError as exc:
                    send_end = error_name(exc)
                    break
            got, end = read_to_end(2)
            truth.update(received=len(got), received_sha256=hashlib.sha256(got).hexdigest(), peer_end=end, send_end=send_end)
            sock.close()
        elif scenario == "teardown":
            # Resets while the server has a big write pending (nothing read).
            sock.sendall(b"T")
            time.sleep(0.2)
            rst(sock)
        elif scenario == "longline":
            try:
                sock.sendall(b"L" + b"x" * (64 * 1024))
            except OSError:
                pass
            _, end = read_to_end(10)
            truth.update(peer_end=end)
            sock.close()
    except OSError as exc:
        truth["peer_error"] = error_name(exc)
        try:
            sock.close()
        except OSError:
            pass
    return truth


def op_flood(cmd):
    """`count` connections to host:port, each reset at once (connect, then RST), `threads` at a time."""
    from concurrent.futures import ThreadPoolExecutor
    host = cmd.get("host", "127.0.0.1")
    threads = cmd.get("threads", 8)
    per_thread = cmd["count"] // threads
    errors = []

    def run(n):
        for _ in range(n):
            try:
                rst(socket.create_connection((host, cmd["port"]), timeout=10))
            except OSError as exc:
                errors.append(error_name(exc))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, [per_thread] * threads))
    return {"connected": per_thread * threads - len(errors), "errors": errors[:10]}


def op_storm(cmd):
    """`count` scripted connections to host:port, at most `concurrency` at once, plus the
    write classes of `classes` ("neverread", "teardown"), each a fixed number of times."""
    from concurrent.futures import ThreadPoolExecutor
    host = cmd.get("host", "127.0.0.1")
    seed, idle_ms, count = cmd.get("seed", 1), cmd.get("idle_ms", 500), cmd["count"]
    # Classes run a fixed number of times each (`classes`: {"neverread": n, ...}), first, so
    # their long holds overlap the random ones; each after the random ones in address order.
    forced = [name for name, n in cmd.get("classes", {}).items() for _ in range(n)]
    with ThreadPoolExecutor(max_workers=cmd.get("concurrency", 200)) as pool:
        futures = [pool.submit(storm_one, host, cmd["port"], count + j, seed, idle_ms, name) for j, name in enumerate(forced)]
        futures += [pool.submit(storm_one, host, cmd["port"], i, seed, idle_ms) for i in range(count)]
        truths = [f.result() for f in futures]
    return {"truths": truths}


# ---- TLS ---------------------------------------------------------------------
# TLS runs in memory (ssl.SSLObject over MemoryBIOs) above the raw socket, so each
# ending is exactly what the test asked for: close_notify is an SSL record we send,
# FIN is shutdown(SHUT_WR) on the TCP socket beneath, RST is SO_LINGER 0.

CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tls")


class TlsTruncated(OSError):
    """The TCP stream ended without a close_notify."""


class TlsConn:
    """An SSLObject over a raw socket, with the socket methods the plain ops use."""

    def __init__(self, raw, sslobj, incoming, outgoing):
        self.raw = raw
        self.ssl = sslobj
        self.incoming = incoming
        self.outgoing = outgoing
        self.lock = threading.Lock()       # the SSLObject, shared by a sending and a receiving thread
        self.send_lock = threading.Lock()  # keeps records in order on the wire
        self.timeout = None

    def _flush(self):
        with self.send_lock:
            with self.lock:
                out = self.outgoing.read()
            if out:
                self.raw.sendall(out)

    def _pull(self):
        """One raw read into the TLS layer; False at TCP EOF."""
        self.raw.settimeout(self.timeout)
        data = self.raw.recv(65536)
        with self.lock:
            if data:
                self.incoming.write(data)
            else:
                self.incoming.write_eof()
        return bool(data)

    def handshake(self, first=b""):
        """Runs the handshake; `first` is sent just before the first flight (a pipelined STARTTLS line)."""
        while True:
            try:
                with self.lock:
                    self.ssl.do_handshake()
                with self.send_lock:
                    out = first + self.outgoing.read()
                    first = b""
                    if out:
                        self.raw.sendall(out)
                return
            except ssl.SSLWantReadError:
                with self.send_lock:
                    out = first + self.outgoing.read()
                    first = b""
                    if out:
                        self.raw.sendall(out)
                if not self._pull():
                    raise TlsTruncated("TCP EOF during the handshake")
            except ssl.SSLError:
                self._flush()  # the alert, so the other side learns why
                raise

    def settimeout(self, timeout):
        self.timeout = timeout

    def sendall(self, data):
        view = memoryview(data)
        for offset in range(0, len(view), 16384):
            with self.send_lock:
                with self.lock:
                    self.ssl.write(view[offset:offset + 16384])
                    out = self.outgoing.read()
                self.raw.sendall(out)

    def recv(self, limit):
        """Plaintext; b"" after the peer's close_notify; TlsTruncated at a TCP EOF without one."""
        while True:
            try:
                with self.lock:
                    return self.ssl.read(limit)
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLEOFError:
                raise TlsTruncated("EOF without close_notify")
            except ssl.SSLWantReadError:
                pass
            self._flush()  # post-handshake messages (key updates) may need an answer
            self._pull()

    def close_notify(self):
        try:
            with self.lock:
                self.ssl.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass  # sent ours; we do not wait for theirs
        self._flush()

    def shutdown(self, how):
        self.raw.shutdown(how)

    def setsockopt(self, *args):
        self.raw.setsockopt(*args)

    def close(self):
        self.raw.close()


def tls_context(cmd, server_side):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    if "min_version" in cmd:
        ctx.minimum_version = getattr(ssl.TLSVersion, cmd["min_version"])
    if "max_version" in cmd:
        ctx.maximum_version = getattr(ssl.TLSVersion, cmd["max_version"])
    if server_side:
        name = cmd.get("cert", "server")
        ctx.load_cert_chain(os.path.join(CERTS, name + ".pem"), os.path.join(CERTS, name + ".key"))
    elif cmd.get("verify", True):
        ctx.load_verify_locations(os.path.join(CERTS, "ca.pem"))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cmd.get("alpn"):
        ctx.set_alpn_protocols(cmd["alpn"])
    return ctx


def op_tls(cmd):
    """Runs TLS over the TCP handle `conn` as `side` ("server" or "client"); the handle then speaks TLS.
    `line` (client only) is sent right before the ClientHello, in the same segment (a pipelined STARTTLS).
    A failed handshake is a result, not an error: {"handshake_error": ...}."""
    handle = cmd["conn"]
    raw = sockets[handle]
    # Records go out as they are written: with Nagle, a record behind an unacknowledged
    # handshake flight could still sit in the send queue when an RST discards it.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server_side = cmd["side"] == "server"
    ctx = tls_context(cmd, server_side)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hostname = None if server_side else cmd.get("server_hostname", "127.0.0.1")
    conn = TlsConn(raw, ctx.wrap_bio(incoming, outgoing, server_side=server_side, server_hostname=hostname), incoming, outgoing)
    conn.timeout = cmd.get("timeout_ms", 10000) / 1000
    try:
        conn.handshake(cmd.get("line", "").encode())
    except (ssl.SSLError, OSError) as exc:
        return {"handshake_error": "%s: %s" % (type(exc).__name__, exc)}
    conn.timeout = None
    sockets[handle] = conn
    return {"protocol": conn.ssl.version(), "alpn": conn.ssl.selected_alpn_protocol()}


def op_close_notify(cmd):
    """Sends close_notify; with `fin` also the TCP FIN right behind it."""
    conn = sockets[cmd["conn"]]
    conn.close_notify()
    if cmd.get("fin", True):
        conn.shutdown(socket.SHUT_WR)
    return {}


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
