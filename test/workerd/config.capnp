# workerd serving the test Worker on loopback; its outbound network may reach local addresses,
# where the test peer listens, and trusts the test-only CA of test/fixtures/tls for TLS.
# The socket's port is set on the command line (--socket-addr).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (
      allow = ["local"],
      tlsOptions = (trustedCertificates = [embed "../fixtures/tls/ca.pem"]),
    )),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "../../.cache/workerd/worker.js") ],
  compatibilityDate = "2026-11-01",
  globalOutbound = "loopback",
);
