type HangupConn = import("hangup").Conn<import("hangup").StreamNative>;
