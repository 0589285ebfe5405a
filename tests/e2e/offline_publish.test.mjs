// Events published while kabar is away (issue 8, defect 1), on the broker compose deploys: mosquitto with
// kabar_auth_plugin.so, allow_anonymous false, persistence on, kabar with a backend token (minted by
// `kabar token` as compose/docker-compose.yml does) and its persistent session. kabar is stopped
// (SIGTERM, or killed with SIGKILL), a backend publishes 20 QoS 1 events on dokumen/42/updated, each
// acknowledged by the broker, kabar starts again: a replay since=earliest over /sse has all 20, in order,
// once. The anonymous broker runs the same steps as the control.
//
// And across a broker restart: kabar stopped, the broker stopped (SIGTERM) and started again on its
// persistence, a backend back first and publishing 20 events before kabar reconnects. mosquitto restores
// kabar's session from its file; on the guarded broker the plugin must know who that session is
// (plugin_opt_state_file, docs/authorization.md "Offline sessions after a broker restart") or it refuses
// the reads mosquitto asks for when it queues, and the 20 are lost.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { BROKER_MODES, Kabar, requireKabarBinary, startMosquitto, sleep, useHarness } from './lib/harness.mjs';
import { SseClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const COUNT = 20;
const TOPIC = 'dokumen/42/updated';
const CHANNEL = 'dokumen.42';
const event = (id) => ({ id, data: { dokumen: { id: 42 }, n: id } });

before(() => requireKabarBinary());

for (const mode of BROKER_MODES) {
  describe(`${mode} broker`, () => {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      test(`kabar stopped with ${signal}: ${COUNT} QoS 1 events published meanwhile are all replayed, in order, once`, { timeout: 90000 }, async (t) => {
        const broker = await startMosquitto({ guarded: mode === 'guarded' });
        t.after(() => broker.stop('SIGKILL'));
        // As compose: a stable client id and a backend token whose sub is the username.
        const kabar = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
        t.after(() => kabar.kill());
        await kabar.start();
        const backend = await mqttConnect(broker.port, await broker.credentials('laravel'));

        // kabar is subscribed and ingesting before it goes away.
        const live = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`));
        await publish(backend, TOPIC, event('warm'));
        await live.waitMessage((f) => f.id === 'warm', { timeout: 10000, what: 'the warm-up event live' });
        live.close();

        const status = signal === 'SIGTERM' ? await kabar.stop() : await kabar.kill();
        assert.deepEqual(status, signal === 'SIGTERM' ? { code: 0, signal: null } : { code: null, signal: 'SIGKILL' });
        for (let i = 0; i < COUNT; i++) await publish(backend, TOPIC, event(`off-${i}`)); // each PUBACKed
        await sleep(200);
        await kabar.start({ readyTimeout: 30000 });
        await publish(backend, TOPIC, event('after'));

        const replay = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}&since=earliest`));
        const expected = ['warm', ...Array.from({ length: COUNT }, (_, i) => `off-${i}`), 'after'];
        try {
          await replay.waitMessage((f) => f.id === 'after', { timeout: 20000, what: 'the event published after the restart' });
        } catch (error) {
          const ids = replay.events(CHANNEL).map((m) => m.frame.id);
          error.message = `replayed ${JSON.stringify(ids)}\n${error.message}\nbroker log:\n${broker.log().slice(-3000)}`;
          throw error;
        }
        await sleep(300);
        const frames = replay.events(CHANNEL).map((m) => m.frame);
        assert.deepEqual(frames.map((f) => f.id), expected, 'replayed since=earliest: every event, in order, once');
        for (let i = 1; i < frames.length; i++) assert.ok(seqOf(frames[i].position) > seqOf(frames[i - 1].position), 'positions ascend');
        if (broker.guarded) assert.doesNotMatch(broker.log(), /kabar-auth: refused/, 'the plugin refused nothing');
        t.diagnostic(`${mode} broker, ${signal}: ${frames.length} events replayed`);
        replay.close();
        backend.end(true);
      });
    }
  });
}

for (const mode of BROKER_MODES) {
  describe(`${mode} broker restarted while kabar is away`, () => {
    test(`${COUNT} QoS 1 events published after the broker restart, before kabar is back, are all replayed`, { timeout: 90000 }, async (t) => {
      const broker = await startMosquitto({ guarded: mode === 'guarded' });
      t.after(() => broker.stop('SIGKILL'));
      const kabar = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
      t.after(() => kabar.kill());
      await kabar.start();
      let backend = await mqttConnect(broker.port, await broker.credentials('laravel'));
      t.after(() => backend.end(true));
      const live = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`));
      await publish(backend, TOPIC, event('warm'));
      await live.waitMessage((f) => f.id === 'warm', { timeout: 10000, what: 'the warm-up event live' });
      live.close();

      assert.deepEqual(await kabar.stop(), { code: 0, signal: null });
      backend.end(true);
      assert.deepEqual(await broker.stop('SIGTERM'), { code: 0, signal: null }, 'mosquitto saved its persistence');
      await broker.start();
      backend = await mqttConnect(broker.port, await broker.credentials('laravel'));
      for (let i = 0; i < COUNT; i++) await publish(backend, TOPIC, event(`off-${i}`)); // each PUBACKed
      await kabar.start({ readyTimeout: 30000 });
      await publish(backend, TOPIC, event('after'));

      const replay = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}&since=earliest`));
      const expected = ['warm', ...Array.from({ length: COUNT }, (_, i) => `off-${i}`), 'after'];
      try {
        await replay.waitMessage((f) => f.id === 'after', { timeout: 20000, what: 'the event published after kabar is back' });
      } catch (error) {
        const ids = replay.events(CHANNEL).map((m) => m.frame.id);
        error.message = `replayed ${JSON.stringify(ids)}\n${error.message}\nbroker log:\n${broker.log().slice(-3000)}`;
        throw error;
      }
      await sleep(300);
      const ids = replay.events(CHANNEL).map((m) => m.frame.id);
      assert.deepEqual(ids, expected, 'replayed since=earliest: every event, in order, once');
      if (broker.guarded) {
        assert.doesNotMatch(broker.log(), /kabar-auth: refused/, 'the plugin refused nothing');
        assert.match(broker.log(), /kabar-auth: session \S+ restored by the broker: identity from the state file \(kabar-gw1\)/, 'kabar\'s restored session took its identity from the state file');
      }
      t.diagnostic(`${mode} broker restarted: ${ids.length} events replayed`);
      replay.close();
    });
  });
}
