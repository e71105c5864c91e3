import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TemporalConfigError, temporalConfigFrom } from "../../workers/temporal/config.ts";

const dir = mkdtempSync(join(tmpdir(), "godotz-temporal-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("Temporal settings from the environment", () => {
  test("without TEMPORAL_ADDRESS the embedded engine runs", () => {
    assert.equal(temporalConfigFrom({}), undefined);
    assert.equal(temporalConfigFrom({ TEMPORAL_ADDRESS: "  ", TEMPORAL_NAMESPACE: "x" }), undefined);
  });

  test("a local server: address, default namespace and task queue, no TLS", () => {
    assert.deepEqual(temporalConfigFrom({ TEMPORAL_ADDRESS: "127.0.0.1:7233" }), { address: "127.0.0.1:7233", namespace: "default", taskQueue: "godotz-swarms" });
  });

  test("Temporal Cloud with an API key implies TLS", () => {
    const config = temporalConfigFrom({ TEMPORAL_ADDRESS: "eu-west-1.aws.api.temporal.io:7233", TEMPORAL_NAMESPACE: "godotz.a1b2c", TEMPORAL_API_KEY: "key" });
    assert.deepEqual(config, { address: "eu-west-1.aws.api.temporal.io:7233", namespace: "godotz.a1b2c", taskQueue: "godotz-swarms", apiKey: "key", tls: true });
  });

  test("mTLS reads the client certificate and key", () => {
    writeFileSync(join(dir, "client.pem"), "CERT");
    writeFileSync(join(dir, "client.key"), "KEY");
    const config = temporalConfigFrom({
      TEMPORAL_ADDRESS: "godotz.a1b2c.tmprl.cloud:7233",
      TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, "client.pem"),
      TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, "client.key"),
    });
    const tls = config?.tls as { clientCertPair: { crt: Buffer; key: Buffer } };
    assert.equal(tls.clientCertPair.crt.toString(), "CERT");
    assert.equal(tls.clientCertPair.key.toString(), "KEY");
  });

  test("bad settings fail with a TemporalConfigError that names the variable", () => {
    assert.throws(() => temporalConfigFrom({ TEMPORAL_ADDRESS: "http://localhost:7233" }), (e: unknown) => e instanceof TemporalConfigError && /TEMPORAL_ADDRESS/.test(e.message));
    assert.throws(() => temporalConfigFrom({ TEMPORAL_ADDRESS: "localhost" }), /host:port/);
    assert.throws(() => temporalConfigFrom({ TEMPORAL_ADDRESS: "localhost:7233", TEMPORAL_TLS: "maybe" }), /TEMPORAL_TLS/);
    assert.throws(() => temporalConfigFrom({ TEMPORAL_ADDRESS: "localhost:7233", TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, "client.pem") }), /both/);
    assert.throws(
      () => temporalConfigFrom({ TEMPORAL_ADDRESS: "localhost:7233", TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, "nope.pem"), TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, "nope.key") }),
      /cannot read/,
    );
    assert.throws(() => temporalConfigFrom({ TEMPORAL_ADDRESS: "localhost:7233", TEMPORAL_TLS: "false", TEMPORAL_TLS_SERVER_NAME: "x" }), /contradicts/);
  });
});
