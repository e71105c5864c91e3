// The sandbox's policy as pure functions: hosts, work directories, reads, environment, violations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allowedHostPatterns, checkWorkDir, childEnv, commandPrelude, gatewayHostPatterns, readDenyPaths, SECRET_READ_DENY } from "../../../fleet-agent/sandbox/policy.ts";
import { classify, directConnectAttempt, isPermittedWrite } from "../../../fleet-agent/sandbox/violations.ts";
import { SandboxOptionsError } from "../../../fleet-agent/sandbox/errors.ts";

test("gateway URL → allowlist entries; localhost also as its loopback literals", () => {
  assert.deepEqual(gatewayHostPatterns(undefined), []);
  assert.deepEqual(gatewayHostPatterns("https://gw.example.com/v1"), ["gw.example.com:443"]);
  assert.deepEqual(gatewayHostPatterns("http://127.0.0.1:8787"), ["127.0.0.1:8787"]);
  assert.deepEqual(gatewayHostPatterns("http://localhost:8787"), ["localhost:8787", "127.0.0.1:8787", "[::1]:8787"]);
  assert.deepEqual(gatewayHostPatterns("http://[::1]:9000/"), ["[::1]:9000"]);
  for (const bad of ["", "gw.example.com", "ftp://gw.example.com", "file:///etc/passwd"]) {
    assert.throws(() => gatewayHostPatterns(bad), SandboxOptionsError, bad);
  }
});

test("allowed hosts: names, wildcards, ports and literals pass; open-ended loopback and junk do not", () => {
  assert.deepEqual(allowedHostPatterns(["api.github.com", "*.npmjs.org", "api.example.com:443", "10.1.2.3", "127.0.0.1:5000", "[::1]:8080", "api.github.com"]),
    ["api.github.com", "*.npmjs.org", "api.example.com:443", "10.1.2.3", "127.0.0.1:5000", "[::1]:8080"]);
  for (const bad of [["localhost"], ["127.0.0.1"], ["[::1]"], ["*"], ["0.0.0.0"], ["app.localhost"], ["http://x.example"], ["a b"], [""], "x.example", [42], null]) {
    assert.throws(() => allowedHostPatterns(bad), SandboxOptionsError, JSON.stringify(bad));
  }
  assert.throws(() => allowedHostPatterns(Array.from({ length: 257 }, (_, i) => `h${i}.example`)), SandboxOptionsError);
});

test("work directories: a task's own tree only", () => {
  const agent = { cwd: "/srv/godotz", home: "/home/agent", execPath: "/usr/bin/node" };
  checkWorkDir("/var/lib/godotz/work/task-1", agent);
  checkWorkDir("/tmp/godotz/task-1", agent);
  for (const bad of ["/", "/tmp", "/usr/local/task", "/etc/task/x", "/srv", "/home", "/home/agent", "/proc/1"]) {
    assert.throws(() => checkWorkDir(bad, agent), SandboxOptionsError, bad);
  }
});

test("reads denied: the secret places, the agent's home, the siblings' parent (unless it holds the temp dir)", () => {
  const deny = readDenyPaths("/var/lib/godotz/work/task-1", ["/etc/godotz"], "/tmp", "/home/agent");
  for (const p of ["/home/agent", "/root", "/etc/ssh", "/etc/shadow", "/var/lib/godotz/work", "/etc/godotz"]) assert.ok(deny.includes(p), p);
  assert.ok(SECRET_READ_DENY.every((p) => deny.includes(p)));
  assert.ok(!readDenyPaths("/tmp/task-1", [], "/tmp", "/home/agent").includes("/tmp"), "the temp dir holds the library's sockets");
  assert.ok(!readDenyPaths("/var/task-1", [], "/var/tmp/x", "/home/agent").includes("/var"));
});

test("the child's environment is built from scratch", () => {
  const env = childEnv("/w/t", "/w/t/.tmp", { TASK: "1" });
  assert.deepEqual(Object.keys(env).sort(), ["HOME", "LANG", "PATH", "TASK", "TMPDIR"]);
  assert.equal(env.HOME, "/w/t");
  for (const bad of [{ "1X": "v" }, { "A-B": "v" }, { A: "v\0" }, { A: 1 }, "A=1"]) {
    assert.throws(() => childEnv("/w/t", "/w/t/.tmp", bad), SandboxOptionsError, JSON.stringify(bad));
  }
  assert.equal(commandPrelude("/w/it's/.tmp"), "export TMPDIR='/w/it'\\''s/.tmp' TMP='/w/it'\\''s/.tmp' TEMP='/w/it'\\''s/.tmp'\nunset NO_PROXY no_proxy\n");
});

test("violation lines are classified by kind", () => {
  assert.equal(classify("deny network-outbound 127.0.0.1:5432 (host is not on the allow list)"), "network");
  assert.equal(classify("deny http-request GET http://x.example/ (denied by sandbox policy)"), "network");
  assert.equal(classify("deny openat /etc/passwd"), "write");
  assert.equal(classify("deny(1) file-write-create /Users/a/x"), "write");
  assert.equal(classify("deny(1) file-read-data /Users/a/.ssh/id_rsa"), "read");
  assert.equal(classify("deny(1) mach-lookup com.apple.x"), "other");
});

test("write attempts inside the work directory or into private devices are not violations", () => {
  assert.equal(isPermittedWrite("deny openat /w/t/out.txt", "/w/t"), true);
  assert.equal(isPermittedWrite("deny mkdir /w/t", "/w/t"), true);
  assert.equal(isPermittedWrite("deny openat /dev/null", "/w/t"), true);
  assert.equal(isPermittedWrite("deny openat /w/t/../x", "/w/t"), false);
  assert.equal(isPermittedWrite("deny openat /w/tt/x", "/w/t"), false);
  assert.equal(isPermittedWrite("deny openat /proc/sys/kernel/x", "/w/t"), false);
  assert.equal(isPermittedWrite("deny network-outbound 1.2.3.4:80 (x)", "/w/t"), false);
});

test("connections around the proxy are recognised in error output; refused loopback is not", () => {
  assert.match(directConnectAttempt("  [cause]: Error: getaddrinfo EAI_AGAIN registry.example\n") ?? "", /registry\.example/);
  assert.match(directConnectAttempt("curl: (6) Could not resolve host: evil.example\n") ?? "", /evil\.example/);
  assert.ok(directConnectAttempt("connect ENETUNREACH 1.2.3.4:443"));
  assert.equal(directConnectAttempt("Error: connect ECONNREFUSED 127.0.0.1:5432"), undefined);
  assert.equal(directConnectAttempt("all good"), undefined);
});
