// scripts/tsdoc-context/shared.d.ts, for Node's adapter and the core.
type HangupConn = import("hangup").Conn<import("node:net").Socket>;
declare const tlsSocket: import("node:tls").TLSSocket;
declare const duplex: import("node:stream").Duplex;
declare const context: import("node:tls").SecureContext;
declare function nodeSource(socket: import("node:net").Socket): ConnSource;
declare const netSocket: import("node:net").Socket;
declare const netServer: import("node:net").Server;
