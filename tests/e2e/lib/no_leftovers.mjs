// The last e2e entry of a ctest run (e2e_zz_no_leftovers, the cleanup of the fixture every e2e file
// requires): fails when a process started by any e2e file of this build is still alive — a kabar, a
// mosquitto (also one kabar started itself), a tool. ctest gives every e2e file KABAR_E2E_SUITE=<build
// dir>, every process those files start inherits it, and nothing else on the machine carries it, so
// other people's brokers and gateways are never counted. Leftovers are SIGKILLed by pid and listed.
import { describeProcess, reapMarked } from './processes.mjs';

const suite = process.env.KABAR_E2E_SUITE;
if (!suite) {
  console.error('no_leftovers: KABAR_E2E_SUITE is not set (run it through ctest)');
  process.exit(2);
}
const left = await reapMarked('KABAR_E2E_SUITE', suite, { timeout: 5000 });
if (left.length) {
  console.error(`no_leftovers: ${left.length} process(es) of the e2e tests of ${suite} outlived them (killed now):`);
  for (const p of left) console.error(`  ${describeProcess(p)}`);
  process.exit(1);
}
console.log(`no_leftovers: no process of the e2e tests of ${suite} is left`);
