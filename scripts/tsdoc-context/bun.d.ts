type HangupConn = import("hangup").Conn<import("bun").Socket<unknown>>;
