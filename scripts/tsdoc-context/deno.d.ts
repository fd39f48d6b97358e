type HangupConn = import("hangup").Conn<Deno.Conn>;
