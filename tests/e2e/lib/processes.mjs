// What /proc says about processes: state, parent, command line, and which ones carry a marker in their
// environment. The harness marks every process a test file starts (KABAR_E2E_OWNER, inherited by
// kabar's embedded mosquitto too), and ctest marks every e2e file of a build (KABAR_E2E_SUITE), so a
// leftover can be found without touching the processes of anyone else on the machine.
import fs from 'node:fs';

function read(file) {
  try { return fs.readFileSync(file); } catch { return null; }
}

// {pid, ppid, state, cmdline} or null when the process is gone. A zombie (state Z) holds no port and no
// file any more: alive() says it is gone.
export function processInfo(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  const text = stat.toString();
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' '); // comm may contain spaces and parens
  const cmdline = (read(`/proc/${pid}/cmdline`) || Buffer.alloc(0)).toString().split('\0').filter(Boolean);
  return { pid: Number(pid), state: rest[0], ppid: Number(rest[1]), cmdline };
}

export function alive(pid) {
  const info = processInfo(pid);
  return !!info && info.state !== 'Z' && info.state !== 'X';
}

function allPids() {
  return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

// Live processes whose parent is `pid`.
export function childrenOf(pid) {
  return allPids().map(processInfo).filter((p) => p && p.ppid === pid && alive(p.pid));
}

// Live processes (other than this one) whose environment holds `NAME=value` exactly.
export function markedProcesses(name, value) {
  const wanted = Buffer.from(`${name}=${value}`);
  const found = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const environ = read(`/proc/${pid}/environ`);
    if (!environ) continue;
    let start = 0;
    for (;;) {
      const end = environ.indexOf(0, start);
      const entry = environ.subarray(start, end < 0 ? environ.length : end);
      if (entry.equals(wanted)) {
        if (alive(pid)) found.push(processInfo(pid));
        break;
      }
      if (end < 0) break;
      start = end + 1;
    }
  }
  return found;
}

export const describeProcess = (p) => `pid ${p.pid} (parent ${p.ppid}, state ${p.state}): ${p.cmdline.join(' ')}`;

// Waits up to `timeout` ms for every process marked NAME=value to be gone. Those still there are then
// SIGKILLed by their pid (so one leftover does not spoil the next file) and returned, for the failure.
export async function reapMarked(name, value, { timeout = 5000 } = {}) {
  const deadline = Date.now() + timeout;
  let left = markedProcesses(name, value);
  while (left.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = markedProcesses(name, value);
  }
  for (const p of left) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  }
  return left;
}
