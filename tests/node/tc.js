// testcontainers-node as a real client (tests/e2e/test_net_testcontainers.py):
// a busybox httpd with an exposed port reached through its published port,
// a Network, and a second container that reaches the first by its network
// alias. Prints one JSON document of what the program saw.
//   node tc.js RUN_LABEL_VALUE
// DOCKER_HOST (unix://...) names the engine. TESTCONTAINERS_RYUK_DISABLED
// must be true: Ryuk (the reaper) is a container that mounts the docker
// socket and removes the session's containers when the client goes away; a
// remote engine's socket cannot be mounted into a workload, so the test
// removes what it made itself.
'use strict';
const { GenericContainer, Network, Wait } = require('testcontainers');
const http = require('http');

const runLabel = process.argv[2] || 'none';
const labels = { 'sk.e2e.run': runLabel };
const HTTPD = 'mkdir -p /www && echo hello-tc > /www/index.html && exec httpd -f -p 8080 -h /www';

function get(host, port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function main() {
  const out = {};
  let network;
  const started = [];
  try {
    network = await new Network().start();
    out.network = network.getName();
    const web = await new GenericContainer('busybox')
      .withCommand(['sh', '-c', HTTPD])
      .withExposedPorts(8080)
      .withNetwork(network)
      .withNetworkAliases('tc-web')
      .withLabels(labels)
      .withWaitStrategy(Wait.forListeningPorts())
      .withStartupTimeout(120000)
      .start();
    started.push(web);
    out.host = web.getHost();
    out.mappedPort = web.getMappedPort(8080);
    const res = await get(out.host, out.mappedPort);
    out.published = { status: res.status, body: res.body.trim() };
    const client = await new GenericContainer('busybox')
      .withCommand(['sleep', '600'])
      .withNetwork(network)
      .withLabels(labels)
      .withStartupTimeout(120000)
      .start();
    started.push(client);
    let last;
    for (let i = 0; i < 60; i++) {
      last = await client.exec(['wget', '-qO-', 'http://tc-web:8080/']);
      if (last.exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    out.byAlias = { exitCode: last.exitCode, output: last.output.trim() };
  } finally {
    for (const c of started.reverse()) {
      await c.stop({ timeout: 2 }).catch((e) => { out.stopError = String(e); });
    }
    if (network) await network.stop().catch((e) => { out.networkStopError = String(e); });
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
