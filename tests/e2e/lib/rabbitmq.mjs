// A RabbitMQ cluster with the MQTT plugin on loopback, from Debian's rabbitmq-server (3.10.8, MQTT 3.1.1
// only), for tests/e2e/rabbitmq_cluster.test.mjs. Everything lives in a temp dir of the test: each node's
// name, ports, Mnesia and log folders, config file and enabled-plugins file, and a shared Erlang cookie
// (HOME/.erlang.cookie). Erlang's port mapper (epmd) is started by us on a port of our own (ERL_EPMD_PORT),
// so nothing is shared with a system RabbitMQ or another test. Every process (epmd, each node's start
// script, its beam.smp and beam's helpers) is stopped by its pid, also when the test fails.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, makeTempDir, sleep, startChild, waitForTcp } from './harness.mjs';
import { alive, childrenOf } from './processes.mjs';

export const RABBITMQ_SERVER = process.env.RABBITMQ_SERVER || '/usr/lib/rabbitmq/bin/rabbitmq-server';
const RABBITMQCTL = path.join(path.dirname(RABBITMQ_SERVER), 'rabbitmqctl');
const EPMD = process.env.EPMD_BIN || '/usr/bin/epmd';

// Why the test cannot run here, or null.
export function rabbitmqSkipReason() {
  for (const file of [RABBITMQ_SERVER, RABBITMQCTL, EPMD]) {
    try { fs.accessSync(file, fs.constants.X_OK); } catch {
      return `${file} not found: install Debian's rabbitmq-server (apt-get install rabbitmq-server; scripts/setup.sh does)`;
    }
  }
  return null;
}

// Every live process below `pid` (children, grandchildren...), deepest last.
function descendants(pid) {
  const out = [];
  for (const child of childrenOf(pid)) out.push(child.pid, ...descendants(child.pid));
  return out;
}

class RabbitNode {
  constructor(cluster, n, ports) {
    Object.assign(this, { cluster, n, ...ports });
    this.name = `kabar${process.pid}n${n}@localhost`;
    this.dir = path.join(cluster.dir, `n${n}`);
    this.child = null;
    this.pids = new Set(); // beam.smp and its helpers, collected while they run
    fs.mkdirSync(path.join(this.dir, 'mnesia'), { recursive: true });
    fs.mkdirSync(path.join(this.dir, 'log'), { recursive: true });
    fs.writeFileSync(path.join(this.dir, 'enabled_plugins'), '[rabbitmq_mqtt].\n');
    fs.writeFileSync(path.join(this.dir, 'rabbitmq-env.conf'), '');
    const lines = [
      `listeners.tcp.default = 127.0.0.1:${this.amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${this.mqttPort}`,
      'mqtt.allow_anonymous = true',
      'loopback_users = none',
      // Two nodes cannot tell a dead peer from a partition; with "ignore" the survivor keeps serving.
      'cluster_partition_handling = ignore',
      `mqtt.durable_queue_type = ${cluster.queueType}`,
      'log.console = false',
      'log.file.level = info',
    ];
    fs.writeFileSync(path.join(this.dir, 'rabbitmq.conf'), `${lines.join('\n')}\n`);
  }

  env() {
    return {
      ...this.cluster.env(),
      RABBITMQ_NODENAME: this.name,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.amqpPort),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(this.dir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(this.dir, 'pid'),
      RABBITMQ_CONF_ENV_FILE: path.join(this.dir, 'rabbitmq-env.conf'),
    };
  }

  get running() { return !!this.child && !this.child.exited; }

  spawn() {
    this.child = startChild(`rabbit${this.n}`, RABBITMQ_SERVER, [], { env: this.env(), logFile: path.join(this.dir, 'stdout.log') });
  }

  // rabbitmqctl against this node (its own beam, which ends with the command; cut after `timeout`).
  ctl(args, { timeout = 60000 } = {}) {
    return new Promise((resolve, reject) => {
      execFile(RABBITMQCTL, ['-n', this.name, ...args], { env: { ...process.env, ...this.env() }, timeout, encoding: 'utf8', killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`rabbitmqctl ${args.join(' ')} on ${this.name}: ${error.message}\n${stdout}\n${stderr}\n${this.logTail()}`));
          else resolve(stdout);
        });
    });
  }

  // await_startup fails at once while the node has not registered with epmd yet: tried until `timeout`.
  async waitStarted(timeout = 90000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (this.child?.exited) throw new Error(`${this.name} exited ${JSON.stringify(this.child.exitStatus)}\n${this.logTail()}`);
      const left = Math.max(5, Math.floor((deadline - Date.now()) / 1000));
      try {
        await this.ctl(['await_startup', '--timeout', String(left)], { timeout: (left + 10) * 1000 });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(500);
      }
    }
    await waitForTcp(this.mqttPort, { timeout: 10000, what: `MQTT listener of ${this.name}` });
    this.collectPids();
  }

  // beam.smp (its OS pid is in RABBITMQ_PID_FILE) and what it started (erl_child_setup, inet_gethost).
  collectPids() {
    if (!this.child) return;
    for (const pid of descendants(this.child.proc.pid)) this.pids.add(pid);
    try {
      const beam = Number(fs.readFileSync(path.join(this.dir, 'pid'), 'utf8').trim());
      if (beam > 0) { this.pids.add(beam); for (const pid of descendants(beam)) this.pids.add(pid); }
    } catch { /* not written yet */ }
  }

  // kill -9 of the node's Erlang VM, as a crashed machine; then of whatever it left.
  async kill() {
    this.collectPids();
    for (const pid of this.pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    // The start script waits for beam and ends with it (reaping it); killed only if it does not.
    if (this.child && !this.child.exited) {
      await Promise.race([this.child.exitPromise, sleep(3000)]);
      await this.child.stop('SIGKILL', 5000);
    }
    for (let i = 0; i < 100 && [...this.pids].some(alive); i++) await sleep(50);
    this.pids.clear();
  }

  // A clean stop (rabbitmqctl stop), bounded; kill -9 of whatever is left either way.
  async stop() {
    if (this.running) {
      this.collectPids();
      try { await this.ctl(['stop'], { timeout: 20000 }); } catch { /* killed below */ }
    }
    await this.kill();
  }

  logTail(lines = 30) {
    try {
      const file = path.join(this.dir, 'log', `${this.name}.log`);
      return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
    } catch { return this.child ? this.child.tail(lines) : ''; }
  }
}

export class RabbitCluster {
  // nodes: how many; queueType: mqtt.durable_queue_type (quorum or classic).
  static async start({ nodes = 3, queueType = 'quorum' } = {}) {
    const cluster = new RabbitCluster(queueType);
    try {
      await cluster.boot(nodes);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  constructor(queueType) {
    this.queueType = queueType;
    this.dir = makeTempDir('kabar-e2e-rabbit-');
    fs.writeFileSync(path.join(this.dir, '.erlang.cookie'), `KABARE2E${process.pid}${Date.now()}`, { mode: 0o400 });
    this.nodes = [];
    this.epmd = null;
  }

  // What every Erlang process of this cluster (nodes and rabbitmqctl) shares: the cookie in HOME, epmd.
  env() { return { HOME: this.dir, ERL_EPMD_PORT: String(this.epmdPort) }; }

  async boot(count) {
    this.epmdPort = await freePort();
    // Ours, in the foreground, so it has a pid to stop; the nodes find it on ERL_EPMD_PORT and start none.
    this.epmd = startChild('epmd', EPMD, ['-port', String(this.epmdPort)], { env: { ...process.env, ...this.env() }, logFile: path.join(this.dir, 'epmd.log') });
    await waitForTcp(this.epmdPort, { timeout: 10000, what: 'epmd' });
    for (let n = 1; n <= count; n++) {
      this.nodes.push(new RabbitNode(this, n, { amqpPort: await freePort(), distPort: await freePort(), mqttPort: await freePort() }));
    }
    for (const node of this.nodes) node.spawn();
    await Promise.all(this.nodes.map((node) => node.waitStarted()));
    const [first, ...others] = this.nodes;
    for (const node of others) {
      await node.ctl(['stop_app']);
      await node.ctl(['join_cluster', first.name]);
      await node.ctl(['start_app']);
      await node.waitStarted();
    }
    const status = await first.ctl(['cluster_status', '--formatter', 'json']);
    const running = JSON.parse(status.slice(status.indexOf('{'))).running_nodes || [];
    if (running.length !== count) throw new Error(`cluster of ${count} expected, running: ${running.join(', ')}`);
  }

  node(n) { return this.nodes[n - 1]; }
  get mqttPorts() { return this.nodes.map((node) => node.mqttPort); }
  // "127.0.0.1:p1,127.0.0.1:p2,..." starting with node `first` (1-based), the others in order after it.
  serversFrom(first = 1) {
    const ordered = [...this.nodes.slice(first - 1), ...this.nodes.slice(0, first - 1)];
    return ordered.map((node) => `127.0.0.1:${node.mqttPort}`).join(',');
  }

  // The subscription queues of MQTT sessions: name, type, leader (quorum) or home node (classic), state.
  async queues(viaNode) {
    const node = viaNode || this.nodes.find((n) => n.running);
    const text = await node.ctl(['list_queues', 'name', 'type', 'leader', 'members', 'pid', 'state', 'messages', '--formatter', 'json']);
    return JSON.parse(text.slice(text.indexOf('[')));
  }

  async stop() {
    await Promise.all(this.nodes.map((node) => node.stop()));
    if (this.epmd) await this.epmd.stop('SIGKILL', 5000);
  }
}
