// The differential suite's dockerode program (tests/e2e/test_diff_dockerode.py):
// runs one fixed sequence of dockerode calls against the Docker endpoint
// DOCKER_HOST (unix://...) and prints what a program sees as one JSON document.
//   node diff.js NAME NETWORK_MODE
'use strict';
const Docker = require('dockerode');
const { PassThrough } = require('stream');

const host = process.env.DOCKER_HOST || '';
if (!host.startsWith('unix://')) {
  console.error('DOCKER_HOST must be unix://PATH');
  process.exit(2);
}
const docker = new Docker({ socketPath: host.slice('unix://'.length) });
const [name, netMode] = process.argv.slice(2);
const labels = { 'sk.diff': '1' };

function errorOf(p) {
  return p.then(() => ({ error: null }),
    (e) => ({ statusCode: e.statusCode, message: e.json ? e.json.message : String(e.reason) }));
}

// A non-TTY logs answer (a Buffer): Docker's 8-byte frame headers.
function demux(buf) {
  const got = { stdout: '', stderr: '' };
  for (let i = 0; i + 8 <= buf.length;) {
    const n = buf.readUInt32BE(i + 4);
    got[buf[i] === 2 ? 'stderr' : 'stdout'] += buf.slice(i + 8, i + 8 + n).toString();
    i += 8 + n;
  }
  return got;
}

function collect() {
  const out = new PassThrough();
  const err = new PassThrough();
  const got = { stdout: '', stderr: '' };
  out.on('data', (d) => { got.stdout += d; });
  err.on('data', (d) => { got.stderr += d; });
  return { out, err, got };
}

async function main() {
  const res = {};
  // docker.run: attach, start, wait; the output must be complete when it resolves.
  const s = collect();
  const [data, ctr] = await docker.run('busybox',
    ['sh', '-c', 'echo one; echo two >&2; echo three; exit 7'], [s.out, s.err],
    { name, Labels: labels, HostConfig: { NetworkMode: netMode } });
  res.run = { StatusCode: data.StatusCode, Error: data.Error || null, output: s.got };
  const info = await ctr.inspect();
  res.inspect = {
    Name: info.Name, Path: info.Path, Args: info.Args,
    State: { Status: info.State.Status, ExitCode: info.State.ExitCode, Running: info.State.Running },
    Config: { Image: info.Config.Image, Cmd: info.Config.Cmd, Labels: info.Config.Labels },
    HostConfig: {
      GroupAdd: info.HostConfig.GroupAdd, Links: info.HostConfig.Links,
      Runtime: info.HostConfig.Runtime, RestartPolicy: info.HostConfig.RestartPolicy,
      LogConfig: info.HostConfig.LogConfig,
    },
  };
  const logs = await ctr.logs({ stdout: true, stderr: true });
  res.logs = logs.toString(); // a TTY container's log is raw
  // The same with pipes: stdout and stderr apart, framed.
  const p = collect();
  const [pdata, pctr] = await docker.run('busybox',
    ['sh', '-c', 'echo one; echo two >&2; echo three; exit 3'], [p.out, p.err],
    { name: `${name}-p`, Tty: false, Labels: labels, HostConfig: { NetworkMode: netMode } });
  res.run_pipes = { StatusCode: pdata.StatusCode, output: p.got };
  res.logs_pipes = demux(await pctr.logs({ stdout: true, stderr: true }));
  await pctr.remove();
  const list = await docker.listContainers({ all: true, filters: { name: [`^/${name}$`] } });
  res.list = list.map((c) => ({ Names: c.Names, Image: c.Image, Command: c.Command, State: c.State, Labels: c.Labels }));
  await ctr.remove();
  res.after_remove = await errorOf(ctr.inspect());
  res.image = await docker.getImage('busybox:latest').inspect().then((i) => ({
    Os: i.Os, Architecture: i.Architecture, Cmd: i.Config.Cmd, RootFSType: i.RootFS.Type,
  }));
  res.missing_image = await errorOf(docker.getImage('sk-diff-nosuch:1').inspect());
  res.missing_container = await errorOf(docker.getContainer(name).inspect());
  res.create_missing_image = await errorOf(docker.createContainer({ Image: 'sk-diff-nosuch:1', Cmd: ['true'] }));
  const v = await docker.version();
  res.version = { Os: v.Os, Arch: v.Arch };
  const ping = await docker.ping();
  res.ping = String(ping);
  process.stdout.write(JSON.stringify(res));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
