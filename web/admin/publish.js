// The test-event form: POST /api/admin/publish {channel, event, data}. The event goes through the
// broker like any backend's, so a subscriber receives it exactly as it would a real one.

import { api } from '/assets/api.js';
import { h, setChildren } from '/assets/dom.js';
import { icon } from '/assets/icons.js';

export function publishCard({ token }) {
  const channel = h('input', { class: 'input mono', id: 'publish-channel', testid: 'publish-channel', required: true, placeholder: 'orders.1', autocomplete: 'off' });
  const event = h('input', { class: 'input mono', id: 'publish-event', testid: 'publish-event', required: true, value: 'kabar.test' });
  const data = h('textarea', { class: 'input mono', id: 'publish-data', testid: 'publish-data', rows: 4 });
  data.value = '{"hello": "from the operator\'s page"}';
  const result = h('div', { class: 'publish-result', testid: 'publish-result', hidden: true });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit', testid: 'publish-submit' }, icon('arrow'), 'Publish test event');

  function show(state, ...text) {
    result.hidden = false;
    result.dataset.state = state;
    setChildren(result, icon(state === 'ok' ? 'check' : 'alert'), h('span', null, ...text));
  }

  async function send(e) {
    e.preventDefault();
    let body;
    try {
      body = data.value.trim() ? JSON.parse(data.value) : {};
    } catch (error) {
      show('error', `Data is not JSON: ${error.message}`);
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api('/api/admin/publish', { method: 'POST', token: token(), body: { channel: channel.value.trim(), event: event.value.trim(), data: body } });
      show('ok', 'Published ', h('code', null, answer.event), ' on ', h('code', null, answer.channel), ': the broker took it.');
    } catch (error) {
      show('error', `${error.message} (${error.code})`);
    } finally {
      submit.disabled = false;
    }
  }

  return h('form', { class: 'card', testid: 'publish-form', onsubmit: send },
    h('div', { class: 'card-header' }, h('div', null, h('h2', { class: 'card-title' }, 'Publish a test event'),
      h('p', null, 'Through the broker, as a backend would: every node\'s subscribers get it'))),
    h('div', { class: 'card-body stack tight' },
      h('div', { class: 'field' }, h('label', { for: 'publish-channel', class: 'field-label' }, 'Channel'), channel),
      h('div', { class: 'field' }, h('label', { for: 'publish-event', class: 'field-label' }, 'Event'), event),
      h('div', { class: 'field' }, h('label', { for: 'publish-data', class: 'field-label' }, 'Data (JSON)'), data),
      submit, result));
}
