// testcontainers-node with files copied in before start
// (tests/e2e/test_vol_testcontainers.py): GenericContainer's
// withCopyContentToContainer, withCopyFilesToContainer and
// withCopyDirectoriesToContainer make one tar that startContainer PUTs at
// "/" of the created container before it starts it (testcontainers
// build/generic-container/generic-container.js startContainer), and
// withCopyArchivesToContainer one PUT per archive at its target. The
// container serves a copied-in page under a network alias; a second one
// reaches it by that alias; exec runs in both. Prints one JSON document of
// what the program saw.
//   node tc_vol.js RUN_LABEL_VALUE DIR
// DIR holds script.sh and conf/ (made by the test). DOCKER_HOST names the
// engine; TESTCONTAINERS_RYUK_DISABLED=true (see tc.js).
'use strict';
const path = require('path');
const { GenericContainer, Network } = require('testcontainers');

const runLabel = process.argv[2] || 'none';
const dir = process.argv[3];
const labels = { 'sk.e2e.run': runLabel };

async function main() {
  const out = {};
  let network;
  const started = [];
  try {
    network = await new Network().start();
    out.network = network.getName();
    const files = await new GenericContainer('busybox')
      .withCommand(['httpd', '-f', '-p', '8080', '-h', '/www'])
      .withNetwork(network)
      .withNetworkAliases('tc-files')
      .withLabels(labels)
      .withCopyContentToContainer([
        { content: 'hello-from-copy\n', target: '/www/index.html' },
        { content: 'secret\n', target: '/etc/app/secret', mode: 0o600 },
      ])
      .withCopyFilesToContainer([
        { source: path.join(dir, 'script.sh'), target: '/opt/app/script.sh', mode: 0o755 },
      ])
      .withCopyDirectoriesToContainer([{ source: path.join(dir, 'conf'), target: '/opt/conf' }])
      .withStartupTimeout(120000)
      .start();
    started.push(files);
    out.id = files.getId();
    const run = await files.exec(['/opt/app/script.sh']);
    out.script = { exitCode: run.exitCode, output: run.output.trim() };
    const st = await files.exec(['stat', '-c', '%a %n', '/opt/app/script.sh', '/etc/app/secret']);
    out.modes = st.output.trim().split('\n');
    const ls = await files.exec(['sh', '-c', 'cd /opt/conf && find . -type f | sort && cat a.conf sub/b.conf']);
    out.conf = ls.output.trim().split('\n');
    // A copy after start goes to the running container.
    await files.copyContentToContainer([{ content: 'late\n', target: '/www/late.txt' }]);
    const client = await new GenericContainer('busybox')
      .withCommand(['sleep', '600'])
      .withNetwork(network)
      .withLabels(labels)
      .withStartupTimeout(120000)
      .start();
    started.push(client);
    let last;
    for (let i = 0; i < 60; i++) {
      last = await client.exec(['wget', '-qO-', 'http://tc-files:8080/']);
      if (last.exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    out.byAlias = { exitCode: last.exitCode, output: last.output.trim() };
    const late = await client.exec(['wget', '-qO-', 'http://tc-files:8080/late.txt']);
    out.late = { exitCode: late.exitCode, output: late.output.trim() };
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
