// The landing page asks whether demo mode is on (GET /demo/cabang) and says so under the intro.

import { api } from './api.js';
import { h, setChildren } from './dom.js';

const box = document.getElementById('demo-state');

api('/demo/cabang').then(
  (cabang) => {
    box.dataset.kind = 'success';
    box.dataset.state = 'on';
    const n = Array.isArray(cabang) ? cabang.length : 0;
    setChildren(box, h('span', null,
      'Mode demo aktif. Data yang tampil adalah lalu lintas contoh dari ', h('code', null, 'kabar demo'),
      `: penjualan di ${n || 'beberapa'} cabang setiap beberapa detik, dan sesekali rekan kerja menyetujui atau menolak dokumen.`));
  },
  (error) => {
    box.dataset.kind = 'danger';
    box.dataset.state = 'off';
    const head = error.code === 'demo_disabled' ? 'Mode demo tidak aktif. ' : 'Server demo tidak menjawab. ';
    setChildren(box, h('span', null, head, error.message, ' Kedua aplikasi memerlukan ',
      h('code', null, 'kabar demo'), ' untuk data contohnya.'));
  },
);
