/**
 * examples/redis-tls.ts against a real redis-server with TLS (`--tls-port`): replies, a
 * pipeline, and what a killed server looks like to the client (SPEC 2: a typed error or a
 * clean end, never a hang). Fails, never skips, where redis-server is missing.
 */
import assert from "node:assert/strict";
import { type Conn, SocketError } from "../../src/index.ts";
import { RedisClient, RespError } from "../../examples/redis-tls.ts";
import { rejection, within } from "../support/fixtures.ts";
import { describe, test } from "../support/harness.ts";
import { type RedisServer, withRedis } from "../support/redis.ts";
import { CERTS, hasTls, tlsAdapter } from "../support/tls.ts";

async function client(server: RedisServer): Promise<RedisClient> {
  const conn = await tlsAdapter.connect({ hostname: "127.0.0.1", port: server.port, tls: { ca: CERTS.ca }, idleTimeout: 20_000 });
  return new RedisClient(conn as Conn);
}

const DEATH = ["ConnectionResetError", "TlsTruncatedError", "BrokenPipeError"];

describe("Redis over TLS: examples/redis-tls.ts against redis-server --tls-port", () => {
  test("PING, SET, GET, an error reply, a pipeline of 1000, then QUIT: redis' close_notify is eof", () =>
    withRedis(async (server) => {
      assert.ok(hasTls, "this runtime's adapter has TLS");
      const redis = await client(server);
      assert.equal(redis.conn.tls?.protocol, "TLSv1.3");
      assert.equal(await redis.command("PING"), "PONG");
      assert.equal(await redis.command("SET", "k", "v".repeat(100_000)), "OK");
      assert.equal(await redis.command("GET", "k"), "v".repeat(100_000));
      assert.equal(await redis.command("GET", "missing"), null);
      const wrong = await rejection(redis.command("INCR", "k"));
      assert.ok(wrong instanceof RespError && /not an integer/.test(wrong.message), String(wrong));
      const replies = await redis.pipeline(Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? ["INCR", "n"] : ["GET", "n"])));
      assert.equal(replies.length, 1000);
      assert.deepEqual(replies.slice(0, 4), [1, "1", 2, "2"]);
      assert.equal(replies[999], "500");
      assert.deepEqual(await redis.pipeline([["RPUSH", "l", "a", "b"], ["LRANGE", "l", 0, -1], ["NOPE"]]).then((r) => r.slice(0, 2)), [2, [
        "a",
        "b",
      ]]);
      assert.equal(await redis.command("QUIT"), "OK");
      assert.deepEqual(await within(5000, redis.conn.ended, "the end after QUIT"), { reason: "eof" }, "redis closes with close_notify");
      await redis.conn.close();
    }));

  test("an array reply over many chunks (MGET of 4000 keys, 2 MB): every value, in order, then a next reply", () =>
    withRedis(async (server) => {
      const redis = await client(server);
      const value = (i: number) => `${i}:`.padEnd(500, String.fromCharCode(97 + (i % 26)));
      const keys = Array.from({ length: 4000 }, (_, i) => `key:${i}`);
      await redis.pipeline(keys.map((key, i) => ["SET", key, value(i)]));
      const reply = await redis.command("MGET", ...keys, "missing");
      assert.ok(Array.isArray(reply) && reply.length === 4001, "one array of 4001");
      for (let i = 0; i < 4000; i++) if (reply[i] !== value(i)) assert.fail(`value ${i}: ${String(reply[i]).slice(0, 20)}`);
      assert.equal(reply[4000], null);
      assert.equal(await redis.command("PING"), "PONG", "the decoder's progress was that reply's alone");
      redis.conn.reset();
    }));

  test("redis-server killed (SIGKILL) mid-pipeline: the pipeline rejects with a typed SocketError, never hangs, never eof", () =>
    withRedis(async (server) => {
      const redis = await client(server);
      const value = "x".repeat(1024);
      const commands = Array.from({ length: 50_000 }, (_, i) => ["SET", `key:${i}`, value]);
      const pipeline = rejection(redis.pipeline(commands));
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 50)); // 50 MB of commands take redis far longer than this
      assert.ok(!(await isSettled(pipeline)), `the pipeline was over before the kill (${Date.now() - started} ms)`);
      await server.kill();
      const err = await within(10_000, pipeline, "the pipeline after redis-server was killed");
      assert.ok(err instanceof SocketError, `expected a SocketError, got ${String(err)}`);
      assert.ok(DEATH.includes(err.name), `a killed server is a reset or a truncation, got ${err.name}: ${err.message}`);
      const ended = await within(10_000, redis.conn.ended, "ended");
      assert.ok(
        ended.reason === "reset" || ended.reason === "truncated",
        `a killed server sent no close_notify, never eof; ended: ${ended.reason}`,
      );
      redis.conn.reset();
    }));

  test("redis-server killed while the connection is idle: the next command rejects; ended says truncated (no close_notify), not eof", () =>
    withRedis(async (server) => {
      const redis = await client(server);
      assert.equal(await redis.command("SET", "a", "1"), "OK");
      await server.kill();
      const ended = await within(10_000, redis.conn.ended, "ended after the kill");
      assert.equal(ended.reason, "truncated", "the kernel closed redis' socket with a FIN and no close_notify");
      const err = await within(10_000, rejection(redis.command("GET", "a")), "a command after the kill");
      assert.ok(err instanceof SocketError, `expected a SocketError, got ${String(err)}`);
      assert.ok(DEATH.includes(err.name), `got ${err.name}: ${err.message}`);
      redis.conn.reset();
    }));
});

async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  return Promise.race([promise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 0))]);
}
