/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, with WebCrypto only (Node, Deno, Bun
 * and Workers all have it). Over TLS it binds the login to the connection
 * (`SCRAM-SHA-256-PLUS`, `tls-server-end-point`, RFC 5929): the proof covers a hash of the
 * server's certificate, `conn.tls.peerCertificate`, so a man in the middle holding another
 * certificate cannot relay it.
 *
 * @example
 * ```ts
 * const scram = await Scram.start(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], conn.tls?.peerCertificate ?? null, "secret");
 * send(scram.mechanism, scram.clientFirst);
 * send(await scram.clientFinal(serverFirst));
 * await scram.verify(serverFinal);
 * ```
 *
 * @module
 */

const utf8 = new TextEncoder();

const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const unbase64 = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function hmac(key: Uint8Array<ArrayBuffer>, data: string): Promise<Uint8Array<ArrayBuffer>> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, utf8.encode(data)));
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** The attributes of a SCRAM message (`r=...,s=...,i=...`). */
function attributes(message: string): Map<string, string> {
  return new Map(message.split(",").map((part) => [part.slice(0, 1), part.slice(2)]));
}

/** One SCRAM exchange, client side. */
export class Scram {
  #authMessage = "";
  #serverKey: Uint8Array<ArrayBuffer> | undefined;
  #verified = false;

  private constructor(
    /** The mechanism chosen: `SCRAM-SHA-256-PLUS` when the server offers it and the certificate is known. */
    readonly mechanism: string,
    /** The client-first-message, sent with the mechanism. */
    readonly clientFirst: string,
    private readonly password: string,
    private readonly gs2Header: string,
    private readonly bindingData: Uint8Array | undefined,
    private readonly clientNonce: string,
  ) {}

  /**
   * Starts an exchange with the mechanisms the server offered. `peerCertificate` (DER) turns on
   * channel binding where the server offers it; without it (Workers have none) the client says
   * it cannot bind (`n`), which a server requiring binding refuses.
   */
  static async start(offered: string[], peerCertificate: Uint8Array | null, password: string): Promise<Scram> {
    const plus = offered.includes("SCRAM-SHA-256-PLUS") && peerCertificate !== null;
    if (!plus && !offered.includes("SCRAM-SHA-256")) throw new Error(`no SCRAM-SHA-256 among ${offered.join(", ")}`);
    const nonce = base64(crypto.getRandomValues(new Uint8Array(18)));
    // "y": we could bind but the server offered no -PLUS, so a server that did offer it sees the
    // offer was stripped on the way; "n": we cannot bind at all (no certificate).
    const gs2Header = plus ? "p=tls-server-end-point,," : peerCertificate !== null ? "y,," : "n,,";
    // tls-server-end-point hashes the certificate with its signature's hash, SHA-256 for the
    // usual certificates (and for SHA-1 or MD5 ones); a SHA-384 or SHA-512 one would need that hash.
    const binding = plus ? await sha256(Uint8Array.from(peerCertificate)) : undefined;
    // PostgreSQL takes the user from the startup message: the SCRAM user name stays empty.
    return new Scram(plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", `${gs2Header}n=,r=${nonce}`, password, gs2Header, binding, nonce);
  }

  /** The client's proof, for the server's first message (`r=...,s=...,i=...`). */
  async clientFinal(serverFirst: string): Promise<string> {
    const server = attributes(serverFirst);
    const nonce = server.get("r") ?? "";
    const iterations = Number(server.get("i"));
    if (!nonce.startsWith(this.clientNonce) || !Number.isInteger(iterations) || iterations < 1) {
      throw new Error(`bad SCRAM server-first-message: ${serverFirst}`);
    }
    const key = await crypto.subtle.importKey("raw", utf8.encode(this.password), "PBKDF2", false, ["deriveBits"]);
    const salted = new Uint8Array(
      await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: unbase64(server.get("s") ?? ""), iterations }, key, 256),
    );
    const cbind = new Uint8Array([...utf8.encode(this.gs2Header), ...(this.bindingData ?? [])]);
    const withoutProof = `c=${base64(cbind)},r=${nonce}`;
    this.#authMessage = `${this.clientFirst.slice(this.gs2Header.length)},${serverFirst},${withoutProof}`;
    const clientKey = await hmac(salted, "Client Key");
    const signature = await hmac(await sha256(clientKey), this.#authMessage);
    this.#serverKey = await hmac(salted, "Server Key");
    return `${withoutProof},p=${base64(clientKey.map((byte, i) => byte ^ signature[i]!))}`;
  }

  /** Checks the server's signature (`v=...`): the server knew the password too. */
  async verify(serverFinal: string): Promise<void> {
    const expected = base64(await hmac(this.#serverKey!, this.#authMessage));
    if (attributes(serverFinal).get("v") !== expected) throw new Error("the server's SCRAM signature does not verify");
    this.#verified = true;
  }

  /** Whether the server's signature verified: only then is the login mutual. */
  get verified(): boolean {
    return this.#verified;
  }
}
